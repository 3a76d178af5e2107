"""Taking in an ``InstallRequested``: record it (or answer from the record) and return at once.

The bus handler never runs the installer: it only writes to the installs table, in the
consumer's unit of work (inbox row included), and wakes the worker once that committed; the
worker does the installing. So a redelivered command, a restart and the one-at-a-time rule are
all decided by the table (A1, A6).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from installer_agent.adapters.installs_repository import InstallsRepository
from installer_agent.domain.installs import ConflictingRequest, RequestDecision, on_request
from lockstep_shared.bus.port import PermanentError
from lockstep_shared.catalogue import InstallRequested
from lockstep_shared.unit_of_work import Tx

log = logging.getLogger("installer_agent.host")


class InstallHandlers:
    def __init__(
        self,
        *,
        site_id: str,
        repository: InstallsRepository,
        clock: Callable[[], datetime],
        wake_worker: Callable[[], None],
    ) -> None:
        self.site_id = site_id
        self.repository = repository
        self.clock = clock
        self.wake_worker = wake_worker

    async def on_install_requested(self, tx: Tx, command: InstallRequested) -> None:
        if command.site_id != self.site_id:
            # The queue binds this site only (S3); anything else is a routing mistake.
            raise PermanentError(
                f"install command for site {command.site_id!r} reached the agent of "
                f"site {self.site_id!r}; refused"
            )
        extra = {"site_id": self.site_id, "update_id": command.update_id,
                 "correlation_id": tx.correlation_id}
        existing = await self.repository.get(tx.conn, command.update_id)
        try:
            decision = on_request(existing, command.package)
        except ConflictingRequest as exc:
            raise PermanentError(str(exc)) from exc
        if decision is RequestDecision.RECORD:
            assert tx.cause is not None  # a consumer's unit of work: the command's envelope
            await self.repository.add_requested(tx.conn, tx.cause, self.clock())
            tx.after_commit(self.wake_worker)
            log.info("install of %s %s requested (update %s)", command.package.product,
                     command.package.version, command.update_id, extra=extra)
        elif decision is RequestDecision.REPORT_AGAIN:
            assert existing is not None and existing.outcome is not None
            tx.emit(existing.outcome.message(self.site_id, command.update_id))
            log.info("install command for update %s repeated: it already %s; outcome reported "
                     "again, the installer is not run again", command.update_id,
                     existing.status.value, extra=extra)
        else:
            log.info("install command for update %s repeated while it is %s; ignored",
                     command.update_id, existing.status.value if existing else "?", extra=extra)
