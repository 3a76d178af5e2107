"""The hawkBit DDI v1 controller API (D14, docs/ddi.md): off-the-shelf update agents (SWUpdate's
suricatta, rauc-hawkbit) take part in the coordinated update. Paths are hawkBit's, at the root
of the gateway: ``/{tenant}/controller/v1/{controllerId}…`` with tenant = the site id,
controllerId = the device's serial. Parse, authenticate (TargetToken / GatewayToken),
dispatch to ``service_layer.ddi``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response, Security
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import APIKeyHeader

from device_gateway.entrypoints.api import BINARY, _file_response
from device_gateway.entrypoints.ddi_schemas import (
    ConfigDataBody,
    FeedbackBody,
    Links,
    base_resource,
    cancel_resource,
    deployment_resource,
    md5sum_file,
)
from device_gateway.entrypoints.errors import DeviceRoute
from device_gateway.service_layer.auth import AuthenticatedDevice
from device_gateway.service_layer.ddi import DdiHandlers
from device_gateway.service_layer.presence import Presence
from lockstep_shared.catalogue import Serial, SiteId
from lockstep_shared.http_limits import refusals

PREFIX = "/{tenant}/controller/v1/{controllerId}"
MD5SUM = ".MD5SUM"
DDI_TOKEN = APIKeyHeader(name="Authorization", auto_error=False, scheme_name="ddiToken",
                         description="'TargetToken <device token>' (the registration with agent "
                         "'ddi') or 'GatewayToken <the site's gateway token>'")
AUTHENTICATED = (401, 403)  # invalid_token / not_ddi_device, device_disabled
HAL_JSON = {"application/json": {"schema": {"type": "object"}}}
EMPTY = {200: {"description": "accepted (an empty body, as hawkBit answers)"}}

Tenant = Annotated[SiteId, Path(description="the site id")]
ControllerId = Annotated[Serial, Path(alias="controllerId", description="the device's serial")]
ActionId = Annotated[int, Path(ge=1, le=2**53, alias="actionId")]


def ddi_router(ddi: DdiHandlers, presence: Presence, *, public_url: str | None) -> APIRouter:
    """``public_url``: how devices reach this gateway (the base of every link; unset: the base
    URL the device's request came to). A poll marks its device seen (``presence``)."""
    router = APIRouter(prefix=PREFIX, tags=["ddi"], route_class=DeviceRoute,
                       responses=refusals(422))

    async def current_device(request: Request, tenant: Tenant, controller_id: ControllerId,
                             _: Annotated[str | None, Security(DDI_TOKEN)]
                             ) -> AuthenticatedDevice:
        return await ddi.authenticate(tenant, controller_id,
                                      request.headers.get("authorization"))

    Device = Depends(current_device)

    def links(request: Request, device: AuthenticatedDevice) -> Links:
        base = (public_url or str(request.base_url)).rstrip("/")
        return Links(f"{base}/{device.site_id}/controller/v1/{device.serial}")

    @router.get("", responses={200: {"content": HAL_JSON}, **refusals(*AUTHENTICATED, 404)})
    async def base(request: Request, device: AuthenticatedDevice = Device) -> JSONResponse:
        """The polling sleep and links to what to do now: ``deploymentBase``,
        ``cancelAction``, ``configData``. A poll acknowledges START, END and ERROR UPDATE."""
        presence.seen(device.site_id, device.serial)
        shown = await ddi.poll(device)
        return JSONResponse(base_resource(links(request, device), sleep=shown.sleep,
                                          deployment=shown.deployment, cancel=shown.cancel,
                                          config_data=shown.config_data))

    @router.get("/deploymentBase/{actionId}",
                responses={200: {"content": HAL_JSON},
                           **refusals(*AUTHENTICATED, 404, 410, 503)})
    async def deployment(request: Request, action_id: ActionId,
                         device: AuthenticatedDevice = Device) -> JSONResponse:
        """The deployment: one chunk, one artifact (size, sha1, md5, sha256, links);
        ``download``/``update`` as ``forced``/``skip`` and the maintenance window per phase."""
        shown = await ddi.deployment(device, action_id)
        return JSONResponse(deployment_resource(links(request, device), shown.action_id,
                                                shown.deployment, digests=shown.digests,
                                                filename=shown.filename))

    @router.post("/deploymentBase/{actionId}/feedback", response_class=Response,
                 responses={**EMPTY, **refusals(*AUTHENTICATED, 404, 410, 413)})
    async def deployment_feedback(action_id: ActionId, body: FeedbackBody,
                                  device: AuthenticatedDevice = Device) -> Response:
        """``downloaded`` of a staging deployment = waiting (model rule ``staged``);
        ``closed/success`` of a forced one = the version report; ``closed/failure`` = the
        grid's notes."""
        status = body.status
        await ddi.feedback(device, action_id, execution=status.execution,
                           finished=status.result.finished, details=status.details)
        return Response(status_code=200)

    @router.get("/cancelAction/{actionId}",
                responses={200: {"content": HAL_JSON}, **refusals(*AUTHENTICATED, 404, 410)})
    async def cancel(action_id: ActionId, device: AuthenticatedDevice = Device) -> JSONResponse:
        """ERROR UPDATE: stop the action."""
        return JSONResponse(cancel_resource(await ddi.cancel(device, action_id)))

    @router.post("/cancelAction/{actionId}/feedback", response_class=Response,
                 responses={**EMPTY, **refusals(*AUTHENTICATED, 404, 410, 413)})
    async def cancel_feedback(action_id: ActionId, body: FeedbackBody,
                              device: AuthenticatedDevice = Device) -> Response:
        status = body.status
        await ddi.cancel_feedback(device, action_id, execution=status.execution,
                                  finished=status.result.finished, details=status.details)
        return Response(status_code=200)

    @router.put("/configData", response_class=Response,
                responses={**EMPTY, **refusals(*AUTHENTICATED, 413)})
    async def config_data(body: ConfigDataBody,
                          device: AuthenticatedDevice = Device) -> Response:
        """The device's attributes; a version attribute is a version report."""
        await ddi.config_data(device, body.data, body.mode)
        return Response(status_code=200)

    @router.get("/softwaremodules/{moduleId}/artifacts/{filename}", response_class=Response,
                responses={200: {"description": "the package (or its .MD5SUM)",
                                 "content": BINARY},
                           206: {"description": "part of the package", "content": BINARY},
                           **refusals(*AUTHENTICATED, 404, 410, 416, 503)})
    async def artifact(request: Request,
                       module_id: Annotated[int, Path(ge=1, le=2**53, alias="moduleId")],
                       filename: Annotated[str, Path(max_length=200)],
                       device: AuthenticatedDevice = Device) -> Any:
        """The action's package with ``Range``/``206``, ``ETag``/``If-Range``, ``416``."""
        if filename.endswith(MD5SUM):
            found = await ddi.artifact(device, module_id, filename[:-len(MD5SUM)])
            return PlainTextResponse(md5sum_file(found.digests, found.filename))
        found = await ddi.artifact(device, module_id, filename)
        return _file_response(found.path, found.package, request)

    return router
