"""The orchestrator's internal API as the agent uses it: the record of one update of its site
(``GET /internal/v1/sites/{site}/updates/{update}``, with the internal token)."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from pydantic import ValidationError

from installer_agent.domain.open_update import OrchestratorUnavailable, UpdateOnRecord
from lockstep_shared.catalogue import PackageRef
from lockstep_shared.settings import INTERNAL_HEADER


class OrchestratorRecords:
    def __init__(self, base_url: str, internal_token: str, *, timeout_s: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {INTERNAL_HEADER: internal_token} if internal_token else {}
        self.timeout_s = timeout_s
        self.transport = transport

    async def update(self, site_id: str, update_id: str) -> UpdateOnRecord | None:
        """The orchestrator's record of the update, None if the site has no such update."""
        path = f"/internal/v1/sites/{quote(site_id, safe='')}/updates/{quote(update_id, safe='')}"
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s,
                                         transport=self.transport) as client:
                answer = await client.get(self.base_url + path, headers=self.headers)
        except httpx.HTTPError as exc:
            raise OrchestratorUnavailable(f"{self.base_url} unreachable ({type(exc).__name__}: "
                                          f"{exc})", transient=True) from exc
        if answer.status_code == 404:
            return None
        if answer.status_code == 422:  # an update id that cannot name any update
            return None
        if answer.status_code != 200:
            detail = answer.text[:300]
            if answer.status_code in (401, 403):
                detail += " (this agent's LOCKSTEP_INTERNAL_TOKEN is missing or wrong)"
            raise OrchestratorUnavailable(
                f"{self.base_url} answered {answer.status_code}: {detail}",
                transient=answer.status_code >= 500 or answer.status_code == 429)
        try:
            data = answer.json()
            return UpdateOnRecord(update_id=str(data["update_id"]), state=str(data["state"]),
                                  package=PackageRef.model_validate(data["package"]))
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            raise OrchestratorUnavailable(f"{self.base_url} answered an unreadable update "
                                          f"record: {exc}", transient=False) from exc
