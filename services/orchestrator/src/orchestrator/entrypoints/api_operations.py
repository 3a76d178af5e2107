"""Admin API, the rest of ``/api/v1``: device management (U10), manual codes (U5, D8), the
report to support (U12) and the audit log (U15). Routes parse, check, dispatch."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from lockstep_shared.http_limits import refusals
from lockstep_shared.versions import VersionText
from orchestrator.domain.accounts import ALL_SITES, Account, Forbidden, Permission, Role
from orchestrator.domain.audit import AuditQuery
from orchestrator.domain.support import SupportReport, report_status
from orchestrator.entrypoints.auth import Guard
from orchestrator.entrypoints.errors import AdminRoute
from orchestrator.entrypoints.params import (
    ExchangeIdPath,
    Moment,
    SerialPath,
    ShortText,
    SitePath,
    UpdateIdPath,
)
from orchestrator.service_layer.devices import DeviceHandlers
from orchestrator.service_layer.support import SupportHandlers
from orchestrator.service_layer.views import AuditView, Views


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DisableBody(_Body):
    confirm: bool = Field(default=False, strict=True)
    confirm_again: bool = Field(default=False, strict=True)


class CodeRequestBody(_Body):
    action: Literal["block", "unblock"]
    code1: str = Field(pattern=r"^\d{6}$", max_length=6,
                       description="the 6 digits the device shows")


class DdiDeviceBody(_Body):
    model: str = Field(min_length=1, max_length=100, description="the device model")
    app_version: VersionText = Field(description="the version the device runs now")


class DdiModelRuleBody(_Body):
    waiting: Literal["staged", "admin"] = Field(
        description="staged: the agent's 'downloaded' in phase 1 makes the device waiting "
        "(only for agents that honour update: skip); admin: the site admin blocks it")
    artifact_suffix: str = Field(default=".swu", max_length=16, pattern=r"^(\.[A-Za-z0-9]+)*$",
                                 description="the artifact name's suffix (SWUpdate: .swu)")


class Code3Body(_Body):
    code3: str = Field(pattern=r"^\d{6}$", max_length=6,
                       description="the 6 digits the device shows last")


class DeviceEntry(BaseModel):
    serial: str
    model: str
    operator_code: str | None
    operator_name: str | None
    operator_phone: str | None
    app_version: str
    enabled: bool
    notifications_enabled: bool
    blocked: bool
    last_sync: datetime | None
    registered_at: datetime | None
    last_contact: datetime | None  # last heard from (any of its events, or a poll)
    online: bool = Field(default=False, description="heard from lately: 'online now' (as in "
                         "the grid), else 'last seen <last_contact>'")


class DeviceManagementView(BaseModel):
    devices: list[DeviceEntry]


class ReportStatusView(BaseModel):
    update_id: str
    status: Literal["pending", "delivered", "no_support_endpoint"] = Field(
        description="pending: being delivered, retried until support accepts it; "
        "no_support_endpoint: kept, but no support endpoint is configured "
        "(LOCKSTEP_ORCHESTRATOR_SUPPORT_URL), so it is sent once one is")
    attempts: int
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class AuditPage(BaseModel):
    entries: list[AuditView]


def operations_router(devices: DeviceHandlers, reports: SupportHandlers, views: Views,
                      guard: Guard) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["operations"], route_class=AdminRoute,
                       responses=refusals(401, 403, 404, 409, 413, 422))
    site_admin_dep = Depends(guard.site(Permission.MANAGE))
    update_admin_dep = Depends(guard.update(Permission.MANAGE))
    update_reader_dep = Depends(guard.update(Permission.READ))
    auditor_dep = Depends(guard.allowed(Permission.AUDIT))

    # --- device management (U10) ----------------------------------------------------------

    @router.get("/sites/{site_id}/device-management", response_model=DeviceManagementView)
    async def device_management(site_id: SitePath,
                                _: Account = site_admin_dep) -> DeviceManagementView:
        """Every device of the site, disabled ones included (re-enable from here)."""
        rows = await devices.management(site_id)
        return DeviceManagementView(devices=[
            DeviceEntry.model_validate(r, from_attributes=True).model_copy(
                update={"online": views.online(r.last_contact)}) for r in rows])

    @router.post("/sites/{site_id}/devices/{serial}/disable")
    async def disable(site_id: SitePath, serial: SerialPath, body: DisableBody,
                      actor: Account = site_admin_dep) -> dict[str, Any]:
        """Double confirmation (confirm and confirm_again); publishes ``DeviceDisabled``."""
        await devices.disable(site_id, serial, actor, confirm=body.confirm,
                              confirm_again=body.confirm_again)
        return {"site_id": site_id, "serial": serial, "enabled": False}

    @router.post("/sites/{site_id}/devices/{serial}/enable")
    async def enable(site_id: SitePath, serial: SerialPath,
                     actor: Account = site_admin_dep) -> dict[str, Any]:
        await devices.enable(site_id, serial, actor)
        return {"site_id": site_id, "serial": serial, "enabled": True}

    @router.post("/sites/{site_id}/devices/{serial}/reregistration-approval")
    async def approve_reregistration(site_id: SitePath, serial: SerialPath,
                                     actor: Account = site_admin_dep) -> JSONResponse:
        """The device lost its secret (app reinstalled): let it register once more with the
        enrolment code alone, within the hour (the gateway's answer, audited)."""
        answer = await devices.approve_reregistration(site_id, serial, actor)
        return JSONResponse(answer.body, status_code=answer.status_code)

    # --- devices with a hawkBit DDI agent: SWUpdate, rauc-hawkbit (D14) ------------------

    @router.post("/sites/{site_id}/devices/{serial}/ddi-block",
                 responses=refusals(502, 503))
    async def ddi_block(site_id: SitePath, serial: SerialPath,
                        actor: Account = site_admin_dep) -> JSONResponse:
        """A DDI device whose model's rule is ``admin`` has stopped work: count it blocked
        and handed in for the update in phase 1 (audited; the gateway's answer)."""
        answer = await devices.ddi_block(site_id, serial, actor)
        return JSONResponse(answer.body, status_code=answer.status_code)

    @router.post("/sites/{site_id}/devices/{serial}/ddi-target-token", status_code=201,
                 responses=refusals(502, 503))
    async def ddi_target_token(site_id: SitePath, serial: SerialPath, body: DdiDeviceBody,
                               actor: Account = site_admin_dep) -> JSONResponse:
        """A TargetToken (``Authorization: TargetToken …``) for a device's hawkBit agent: the
        serial is registered as a DDI device, or a DDI device gets a new token (the old one
        stops working). Shown once."""
        answer = await devices.ddi_target_token(site_id, serial, body.model_dump(), actor)
        return JSONResponse(answer.body, status_code=answer.status_code)

    @router.get("/sites/{site_id}/ddi-join-requests", responses=refusals(502, 503))
    async def ddi_join_requests(site_id: SitePath,
                                _: Account = site_admin_dep) -> JSONResponse:
        """Unknown devices that presented the site's GatewayToken: ``{"requests": [{"serial",
        "first_seen_at", "last_seen_at"}]}``, oldest first (the gateway's answer). None of
        them takes part in anything before the admin approves it."""
        answer = await devices.ddi_join_requests(site_id)
        return JSONResponse(answer.body, status_code=answer.status_code)

    @router.post("/sites/{site_id}/ddi-join-requests/{serial}/approval",
                 responses=refusals(502, 503))
    async def ddi_join_approval(site_id: SitePath, serial: SerialPath, body: DdiDeviceBody,
                                actor: Account = site_admin_dep) -> JSONResponse:
        """The device is the site's: registered as a DDI device of that model, on that
        version; its agent goes on with the GatewayToken (audited)."""
        answer = await devices.ddi_join_approval(site_id, serial, body.model_dump(), actor)
        return JSONResponse(answer.body, status_code=answer.status_code)

    @router.delete("/sites/{site_id}/ddi-join-requests/{serial}",
                   responses=refusals(502, 503))
    async def ddi_join_dismissal(site_id: SitePath, serial: SerialPath,
                                 actor: Account = site_admin_dep) -> JSONResponse:
        """Not the site's device: its request to join goes (audited)."""
        answer = await devices.ddi_join_dismissal(site_id, serial, actor)
        return JSONResponse(answer.body, status_code=answer.status_code)

    @router.get("/sites/{site_id}/ddi-models", responses=refusals(502, 503))
    async def ddi_model_rules(site_id: SitePath,
                              _: Account = site_admin_dep) -> JSONResponse:
        """Every model with a DDI device or a rule at the site: ``{"models": [{"model",
        "waiting", "artifact_suffix", "devices", "chosen"}]}`` (the gateway's answer;
        ``chosen`` false: the defaults, ``admin`` and ``.swu``)."""
        answer = await devices.ddi_model_rules(site_id)
        return JSONResponse(answer.body, status_code=answer.status_code)

    @router.put("/sites/{site_id}/ddi-models/{model}", responses=refusals(502, 503))
    async def ddi_model_rule(site_id: SitePath,
                             model: Annotated[str, Path(min_length=1, max_length=100)],
                             body: DdiModelRuleBody,
                             actor: Account = site_admin_dep) -> JSONResponse:
        """What "waiting for update" means for this model's DDI devices: ``staged`` (its
        agent's ``downloaded`` in phase 1) or ``admin`` (the site admin blocks it)."""
        answer = await devices.ddi_model_rule(site_id, model, body.model_dump(), actor)
        return JSONResponse(answer.body, status_code=answer.status_code)

    @router.post("/sites/{site_id}/ddi-gateway-token", status_code=201,
                 responses=refusals(502, 503))
    async def ddi_gateway_token(site_id: SitePath,
                                actor: Account = site_admin_dep) -> JSONResponse:
        """A new GatewayToken (``Authorization: GatewayToken …``) for the site's DDI agents;
        the previous one stops working. Shown once."""
        answer = await devices.ddi_gateway_token(site_id, actor)
        return JSONResponse(answer.body, status_code=answer.status_code)

    # --- manual block / unblock by codes (U5, D8) ----------------------------------------

    @router.post("/sites/{site_id}/devices/{serial}/codes", status_code=201,
                 responses=refusals(410, 429, 502, 503))
    async def issue_code(site_id: SitePath, serial: SerialPath, body: CodeRequestBody,
                         actor: Account = site_admin_dep) -> JSONResponse:
        """Code 1 from the device → code 2 to read to the operator."""
        answer = await devices.issue_code(site_id, serial, body.action, body.code1, actor)
        return JSONResponse(answer.body, status_code=answer.status_code)

    @router.post("/sites/{site_id}/devices/{serial}/codes/{exchange_id}/confirmation",
                 responses=refusals(410, 429, 502, 503))
    async def confirm_code(site_id: SitePath, serial: SerialPath,
                           exchange_id: ExchangeIdPath, body: Code3Body,
                           actor: Account = site_admin_dep) -> JSONResponse:
        """Code 3 from the device: verified → the device's new state is recorded."""
        answer = await devices.confirm_code(site_id, serial, exchange_id, body.code3,
                                            actor)
        return JSONResponse(answer.body, status_code=answer.status_code)

    # --- report to support (U12) ---------------------------------------------------------

    @router.post("/updates/{update_id}/support-report", status_code=202,
                 response_model=ReportStatusView)
    async def send_report(update_id: UpdateIdPath,
                          actor: Account = update_admin_dep) -> ReportStatusView:
        """Stored now, delivered in the background, retried until support accepts it."""
        return _report_view(await reports.request(update_id, actor), reports.support_url)

    @router.get("/updates/{update_id}/support-report", response_model=ReportStatusView)
    async def report_status(update_id: UpdateIdPath,
                            _: Account = update_reader_dep) -> ReportStatusView:
        return _report_view(await reports.status(update_id), reports.support_url)

    # --- audit (U15, A7) -----------------------------------------------------------------

    @router.get("/audit", response_model=AuditPage)
    async def audit(
        viewer: Account = auditor_dep,
        site_id: SitePath | None = None,
        update_id: UpdateIdPath | None = None,
        since: Moment | None = None,
        until: Moment | None = None,
        action: ShortText | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> AuditPage:
        """Newest first. Admins see their sites; support every site."""
        if site_id is not None and not viewer.covers(site_id):
            raise Forbidden(f"{viewer.username} may not read the audit of site {site_id}")
        every_site = viewer.role is Role.SUPPORT or ALL_SITES in viewer.sites
        query = AuditQuery(sites=None if every_site else viewer.sites, site_id=site_id,
                           update_id=update_id, since=_utc(since), until=_utc(until),
                           action=action, limit=limit)
        return AuditPage(entries=await views.audit(query))

    return router


def _utc(moment: datetime | None) -> datetime | None:
    """Times without an offset are UTC; the audit stores UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _report_view(report: SupportReport, support_url: str | None) -> ReportStatusView:
    return ReportStatusView(update_id=report.update_id,
                            status=report_status(report.status, support_url),
                            attempts=report.attempts, last_error=report.last_error,
                            created_at=report.created_at, delivered_at=report.delivered_at)
