"""The device API (`/device/v1`, /work/device-api.md): parse, authenticate, dispatch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from device_gateway.domain import updates
from device_gateway.domain.notifications import Notification
from device_gateway.domain.ranges import RangeNotSatisfiable, if_range_allows, requested_range
from device_gateway.entrypoints.errors import DeviceRoute, answer
from device_gateway.entrypoints.schemas import (
    BlockedBody,
    DirectiveOut,
    RegistrationBody,
    RegistrationOut,
    SyncBody,
    SyncOut,
    VersionBody,
)
from device_gateway.service_layer.auth import AuthenticatedDevice, DeviceAuthenticator
from device_gateway.service_layer.devices import DeviceRequests, Registration
from device_gateway.service_layer.errors import DeviceRefused
from device_gateway.service_layer.packages import PackageCache, PackageUnavailable
from device_gateway.service_layer.push import PushChannel
from lockstep_shared.contracts.device_registration import IDEMPOTENCY_HEADER, PROOF_HEADER

PACKAGE_PATH = "/device/v1/package"
CHUNK = 1 << 16


def device_router(requests: DeviceRequests, auth: DeviceAuthenticator, push: PushChannel,
                  packages: PackageCache, *, public_url: str | None) -> APIRouter:
    """``public_url``: how devices reach this gateway (the package URL of a directive)."""
    router = APIRouter(prefix="/device/v1", tags=["devices"], route_class=DeviceRoute)
    package_url = (public_url or "").rstrip("/") + PACKAGE_PATH

    async def current_device(request: Request) -> AuthenticatedDevice:
        return await auth.authenticate(request.headers.get("authorization"))

    Device = Depends(current_device)

    @router.post("/registrations", status_code=201, response_model=RegistrationOut)
    async def register(
        body: RegistrationBody, request: Request,
        secret_proof: Annotated[str | None, Header(alias=PROOF_HEADER, max_length=128)] = None,
        idempotency_key: Annotated[str | None,
                                   Header(alias=IDEMPOTENCY_HEADER, max_length=128)] = None,
    ) -> RegistrationOut:
        """A serial the site knows registers again only with ``Lockstep-Secret-Proof``, the
        ``Idempotency-Key`` that created its credentials, or the admin's approval (§4.1)."""
        operator = body.operator
        done = await requests.register(Registration(
            site_id=body.site_id, serial=body.serial, model=body.model,
            app_version=body.app_version, enrolment_code=body.enrolment_code,
            notifications_enabled=body.notifications_enabled,
            operator_code=operator.code if operator else None,
            operator_name=operator.name if operator else None,
            operator_phone=operator.phone if operator else None,
            secret_proof=secret_proof, idempotency_key=idempotency_key,
            client=request.client.host if request.client else "unknown"))
        return RegistrationOut(serial=done.serial, site_id=done.site_id,
                               device_token=done.device_token,
                               device_secret=done.device_secret, site_version=done.site_version,
                               update_required=done.update_required)

    @router.get("/notifications")
    async def notifications(
        wait: float = Query(25.0, ge=0, le=30), device: AuthenticatedDevice = Device
    ) -> JSONResponse:
        items = await push.poll(device.site_id, device.serial, wait)
        return JSONResponse({"notifications": [_notification_json(n) for n in items]})

    @router.post("/notifications/{notification_id}/ack", status_code=204)
    async def acknowledge(notification_id: str, device: AuthenticatedDevice = Device) -> Response:
        await requests.acknowledge(device, notification_id)
        return Response(status_code=204)

    @router.post("/blocked", status_code=204)
    async def blocked(body: BlockedBody, device: AuthenticatedDevice = Device) -> Response:
        await requests.blocked(device, body.update_id)
        return Response(status_code=204)

    @router.post("/sync", response_model=SyncOut)
    async def sync(body: SyncBody, device: AuthenticatedDevice = Device) -> SyncOut:
        decision = await requests.sync(device, body.update_id)
        return SyncOut(accepted=decision.accepted,
                       waiting_for_update=decision.waiting_for_update)

    @router.get("/update", response_model=DirectiveOut,
                responses={204: {"description": "nothing to install"},
                           409: {"description": "update in preparation"}})
    async def directive(device: AuthenticatedDevice = Device) -> Any:
        decided = await requests.directive(device)
        if decided.in_preparation:
            raise _in_preparation()
        if decided.package is None:
            return Response(status_code=204)
        package = decided.package
        return DirectiveOut(update_id=decided.update_id, reason=decided.reason or "update",
                            version=package.version, size=package.size, sha256=package.sha256,
                            url=package_url)

    @router.get("/package", responses={206: {"description": "part of the package"},
                                       409: {"description": "not released yet"},
                                       416: {"description": "range not satisfiable"}})
    async def package(request: Request, device: AuthenticatedDevice = Device) -> Response:
        package = await requests.package(device)
        if package is None:
            raise _in_preparation()
        try:
            path = await packages.path(package)
        except PackageUnavailable as exc:
            raise DeviceRefused("package_unavailable", "the package is not yet available at "
                                f"the gateway; retry in a minute ({exc})",
                                retry_after=30) from exc
        return _file_response(path, package, request)

    @router.post("/version", status_code=204)
    async def version(body: VersionBody, device: AuthenticatedDevice = Device) -> Response:
        await requests.report_version(device, body.app_version)
        return Response(status_code=204)

    return router


def _notification_json(notification: Notification) -> dict[str, str]:
    return {"id": str(notification.seq), "kind": notification.kind,
            "update_id": notification.update_id,
            "created_at": notification.created_at.isoformat()}


def _in_preparation() -> DeviceRefused:
    return DeviceRefused("update_in_preparation", updates.IN_PREPARATION)


def _file_response(path: Path, package: updates.Package, request: Request) -> Response:
    size = package.size
    etag = f'"{package.sha256}"'
    headers = {"Accept-Ranges": "bytes", "ETag": etag, "Content-Type": "application/octet-stream"}
    try:
        wanted = (requested_range(request.headers.get("range"), size)
                  if if_range_allows(request.headers.get("if-range"), etag) else None)
    except RangeNotSatisfiable as exc:
        headers["Content-Range"] = f"bytes */{size}"
        return answer(DeviceRefused("bad_range", f"range not satisfiable: {exc}"), headers)
    if wanted is None:
        first, last, status = 0, size - 1, 200
    else:
        first, last, status = wanted[0], wanted[1], 206
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    headers["Content-Length"] = str(max(0, last - first + 1))
    return StreamingResponse(_read(path, first, last), status_code=status, headers=headers)


async def _read(path: Path, first: int, last: int) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as f:
        await f.seek(first)
        remaining = last - first + 1
        while remaining > 0:
            chunk = await f.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
