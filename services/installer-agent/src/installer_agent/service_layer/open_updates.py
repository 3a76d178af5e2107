"""Carry out an install command only for the site's open update (issue 10, end to end).

Before anything is looked up, downloaded or run, the agent asks the orchestrator (its internal
API, with the internal token) for its record of the command's update: a command the
orchestrator did not issue — an update it does not know at this site, one not in its
server-install phase, another package — is dropped before its pre-flight (nothing reported:
it speaks for no update of the orchestrator's), logged as an error and counted in
``lockstep_agent_install_commands_not_issued_total``. An orchestrator that cannot be reached
right now is waited for, like the release watcher, up to the agent's patience.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from installer_agent.domain.open_update import (
    OrchestratorUnavailable,
    UpdateOnRecord,
    open_update_refusal,
)
from installer_agent.service_layer.preflight import NotIssued, Patience, PreflightFailed
from lockstep_shared import metrics
from lockstep_shared.catalogue import InstallRequested

log = logging.getLogger("installer_agent.host")


class UpdateRecords(Protocol):
    async def update(self, site_id: str, update_id: str) -> UpdateOnRecord | None: ...


class OpenUpdateCheck:
    def __init__(self, records: UpdateRecords, site_id: str, *, patience_s: float,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.records = records
        self.site_id = site_id
        self.patience_s = patience_s
        self.sleep = sleep

    async def __call__(self, command: InstallRequested) -> None:
        patience = Patience(self.patience_s, self.sleep)
        while True:
            try:
                on_record = await self.records.update(self.site_id, command.update_id)
                break
            except OrchestratorUnavailable as exc:
                if not exc.transient or patience.spent:
                    raise PreflightFailed(
                        f"the orchestrator could not confirm update {command.update_id}: {exc}; "
                        "nothing was downloaded or run; check that this host reaches the "
                        "orchestrator (LOCKSTEP_AGENT_ORCHESTRATOR_URL) with the internal "
                        "token, then start the update again") from exc
                log.warning("update %s not confirmed by the orchestrator yet (%s): asking again "
                            "in %.0f s", command.update_id, exc, patience.delay)
                await patience.wait()
        refusal = open_update_refusal(self.site_id, command, on_record)
        if refusal is not None:
            metrics.INSTALL_COMMANDS_NOT_ISSUED.inc()
            raise NotIssued(refusal)
