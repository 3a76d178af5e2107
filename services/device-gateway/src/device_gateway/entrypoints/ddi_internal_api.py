"""The site admin's DDI actions (D14), called by the orchestrator on the internal API
(``/internal/v1``, ``X-Lockstep-Internal``): block a DDI device whose model's rule is
``admin``, list and choose the models' rules, issue TargetTokens and the site's GatewayToken,
approve or dismiss unknown devices asking to join."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from device_gateway.domain.ddi import Waiting
from device_gateway.entrypoints.errors import DeviceRoute
from device_gateway.entrypoints.internal_api import HEADER, require_internal_token
from device_gateway.service_layer.ddi import DdiHandlers
from device_gateway.service_layer.ddi_site import DdiSiteHandlers
from lockstep_shared.catalogue import Serial, SiteId
from lockstep_shared.versions import VersionText

Model = Annotated[str, Path(min_length=1, max_length=100)]


class DdiBlocked(BaseModel):
    blocked: bool
    blocked_at: datetime


class ModelRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    waiting: Waiting = Field(description="staged: the agent's 'downloaded' in phase 1 makes "
                             "the device waiting; admin: the site admin blocks it")
    artifact_suffix: str = Field(default=".swu", max_length=16, pattern=r"^(\.[A-Za-z0-9]+)*$",
                                 description="what the artifact's filename ends with (SWUpdate "
                                 "installs only .swu)")


class ModelRuleEntry(ModelRule):
    model: str
    devices: int = Field(description="the site's DDI devices of this model")
    chosen: bool = Field(description="false: the defaults, never chosen by the site admin")


class ModelRules(BaseModel):
    models: list[ModelRuleEntry]


class TargetTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=100)
    app_version: VersionText


class JoinRequestEntry(BaseModel):
    serial: str
    first_seen_at: datetime
    last_seen_at: datetime = Field(description="its newest poll with the GatewayToken")


class JoinRequests(BaseModel):
    requests: list[JoinRequestEntry]


class JoinApproval(TargetTokenRequest):
    """The device's model and installed version, as the site admin knows them."""


class JoinApproved(BaseModel):
    site_id: str
    serial: str
    registered: bool


class JoinDismissed(BaseModel):
    site_id: str
    serial: str
    dismissed: bool


class TargetTokenIssued(BaseModel):
    site_id: str
    serial: str
    target_token: str


class GatewayTokenIssued(BaseModel):
    site_id: str
    gateway_token: str


def ddi_internal_router(ddi: DdiHandlers, site: DdiSiteHandlers, *,
                        internal_token: str) -> APIRouter:
    async def internal_caller(request: Request) -> None:
        require_internal_token(internal_token, request.headers.get(HEADER))

    router = APIRouter(prefix="/internal/v1/sites/{site_id}", tags=["internal"],
                       route_class=DeviceRoute, dependencies=[Depends(internal_caller)])

    @router.post("/devices/{serial}/ddi-block", response_model=DdiBlocked,
                 responses={404: {"description": "no such device"},
                            409: {"description": "no update in phase 1"}})
    async def block(site_id: SiteId, serial: Serial) -> DdiBlocked:
        """The DDI device is stopped: blocked and handed in for the update in phase 1."""
        return DdiBlocked(blocked=True, blocked_at=await ddi.admin_block(site_id, serial))

    @router.post("/devices/{serial}/ddi-target-token", status_code=201,
                 response_model=TargetTokenIssued,
                 responses={403: {"description": "disabled, or a Lockstep app's serial"},
                            404: {"description": "no such site"}})
    async def target_token(site_id: SiteId, serial: Serial,
                           body: TargetTokenRequest) -> TargetTokenIssued:
        """The device's TargetToken: registers the serial as a DDI device, or replaces the
        token of a known one."""
        token = await site.issue_target_token(site_id, serial, body.model, body.app_version)
        return TargetTokenIssued(site_id=site_id, serial=serial, target_token=token)

    @router.get("/ddi-models", response_model=ModelRules,
                responses={404: {"description": "no such site"}})
    async def model_rules(site_id: SiteId) -> ModelRules:
        """Every model with a DDI device or a rule at the site, with its rule (the defaults,
        ``admin`` and ``.swu``, where none was chosen)."""
        return ModelRules(models=[ModelRuleEntry(
            model=r.model, waiting=r.waiting, artifact_suffix=r.artifact_suffix,
            devices=r.devices, chosen=r.chosen) for r in await site.model_rules(site_id)])

    @router.put("/ddi-models/{model}", response_model=ModelRule)
    async def model_rule(site_id: SiteId, model: Model, body: ModelRule) -> ModelRule:
        await site.set_model_rule(site_id, model, body.waiting, body.artifact_suffix)
        return body

    @router.get("/ddi-join-requests", response_model=JoinRequests,
                responses={404: {"description": "no such site"}})
    async def join_requests(site_id: SiteId) -> JoinRequests:
        """Unknown serials that presented the site's GatewayToken, oldest first."""
        return JoinRequests(requests=[JoinRequestEntry(
            serial=r.serial, first_seen_at=r.first_seen_at, last_seen_at=r.last_seen_at)
            for r in await site.pending(site_id)])

    @router.post("/ddi-join-requests/{serial}/approval", response_model=JoinApproved,
                 responses={403: {"description": "a disabled device, or a Lockstep app's"},
                            404: {"description": "no such site or join request"}})
    async def approve_join(site_id: SiteId, serial: Serial, body: JoinApproval
                           ) -> JoinApproved:
        """The device is the site's: registered as a DDI device of that model and version;
        its agent goes on with the GatewayToken."""
        await site.approve(site_id, serial, body.model, body.app_version)
        return JoinApproved(site_id=site_id, serial=serial, registered=True)

    @router.delete("/ddi-join-requests/{serial}", response_model=JoinDismissed,
                   responses={404: {"description": "no such join request"}})
    async def dismiss_join(site_id: SiteId, serial: Serial) -> JoinDismissed:
        """Not the site's device: the request goes (a new poll asks again)."""
        await site.dismiss(site_id, serial)
        return JoinDismissed(site_id=site_id, serial=serial, dismissed=True)

    @router.post("/ddi-gateway-token", status_code=201, response_model=GatewayTokenIssued,
                 responses={404: {"description": "no such site"}})
    async def gateway_token(site_id: SiteId) -> GatewayTokenIssued:
        """A new GatewayToken for the site; the previous one stops working."""
        return GatewayTokenIssued(site_id=site_id,
                                  gateway_token=await site.issue_gateway_token(site_id))

    return router
