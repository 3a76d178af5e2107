"""The orchestrator's internal API (``/internal/v1``), for Lockstep's own services only: an
installer agent asks here whether the install command it got belongs to its site's update in
the server-install phase, and for which package (issue 10). The bus carries the command; the
orchestrator's own record is what the agent believes, so a command forged on the bus installs
nothing. Every request carries the internal token (``X-Lockstep-Internal``); with no token
configured the API answers 503. Not part of the documented admin API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel

from lockstep_shared.catalogue import PackageRef
from lockstep_shared.settings import INTERNAL_HEADER, internal_token_refusal
from orchestrator.domain.errors import Refused
from orchestrator.entrypoints.errors import AdminRoute
from orchestrator.entrypoints.params import SitePath, UpdateIdPath
from orchestrator.service_layer.views import Views


class InternalTokenMissing(Refused):
    code = "internal_token_missing"


class InternalTokenWrong(Refused):
    code = "internal_token_wrong"


class InternalApiDisabled(Refused):
    code = "internal_api_disabled"


CALLER_REFUSED: dict[str, tuple[type[Refused], str]] = {
    "internal_token_missing": (InternalTokenMissing,
                               f"missing {INTERNAL_HEADER} header: internal route"),
    "internal_token_wrong": (InternalTokenWrong, f"wrong {INTERNAL_HEADER} token"),
    "internal_api_disabled": (InternalApiDisabled,
                              "internal routes not configured: set LOCKSTEP_INTERNAL_TOKEN (the "
                              "same value in every service and agent)"),
}


class UpdateOnRecord(BaseModel):
    site_id: str
    update_id: str
    state: str  # the saga's state; the server is installed in "server_updating" only
    package: PackageRef


def internal_router(views: Views, *, internal_token: str) -> APIRouter:
    """``internal_token``: the secret every caller presents; '' = the routes answer 503."""

    async def internal_caller(token: Annotated[str | None, Header(
            alias=INTERNAL_HEADER, max_length=200)] = None) -> None:
        if (code := internal_token_refusal(internal_token, token)) is not None:
            kind, detail = CALLER_REFUSED[code]
            raise kind(detail)

    router = APIRouter(prefix="/internal/v1", tags=["internal"], route_class=AdminRoute,
                       include_in_schema=False, dependencies=[Depends(internal_caller)])

    @router.get("/sites/{site_id}/updates/{update_id}", response_model=UpdateOnRecord)
    async def update_on_record(site_id: SitePath, update_id: UpdateIdPath) -> UpdateOnRecord:
        """The update as the orchestrator recorded it; 404 when the site has no such update."""
        update = await views.update_at_site(site_id, update_id)
        return UpdateOnRecord(site_id=update.site_id, update_id=update.update_id,
                              state=update.state.value, package=update.package)

    return router
