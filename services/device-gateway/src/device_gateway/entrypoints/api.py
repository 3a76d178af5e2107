"""The device API (`/device/v1`, docs/device-protocol.md): parse, authenticate, dispatch."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPBearer
from pydantic import Field

from device_gateway.domain import updates
from device_gateway.domain.notifications import Notification
from device_gateway.domain.ranges import RangeNotSatisfiable, if_range_allows, requested_range
from device_gateway.entrypoints.errors import DeviceRoute, answer
from device_gateway.entrypoints.schemas import (
    BlockedBody,
    DirectiveOut,
    NotificationsOut,
    RegistrationBody,
    RegistrationOut,
    StagedBody,
    StagingOut,
    SyncBody,
    SyncOut,
    TufTargetOut,
    VersionBody,
)
from device_gateway.service_layer.auth import AuthenticatedDevice, DeviceAuthenticator
from device_gateway.service_layer.devices import DeviceHandlers, Registration
from device_gateway.service_layer.errors import DeviceRefused, in_preparation, protocol_retired
from device_gateway.service_layer.packages import PackageCache, PackageUnavailable
from device_gateway.service_layer.presence import Presence
from device_gateway.service_layer.push import PushChannel
from device_gateway.service_layer.staging import StagingHandlers
from lockstep_shared.contracts.device_registration import IDEMPOTENCY_HEADER, PROOF_HEADER
from lockstep_shared.http_limits import Problem, refusals

VERSION = "v1"
PACKAGE_PATH = f"/device/{VERSION}/package"
STAGING_PACKAGE_PATH = f"/device/{VERSION}/staging/package"
CHUNK = 1 << 16


class DeviceToken(HTTPBearer):
    """The device's ``Authorization: Bearer <device_token>``, as ONE dependency: it is the
    security scheme of the API description and resolves to the authenticated device (no
    nested dependencies to solve on every request)."""

    def __init__(self, auth: DeviceAuthenticator) -> None:
        super().__init__(auto_error=False, scheme_name="deviceToken",
                         description="the device_token the registration answered")
        self.auth = auth

    async def __call__(self, request: Request) -> AuthenticatedDevice:  # type: ignore[override]
        return await self.auth.authenticate(request.headers.get("authorization"))

AUTHENTICATED = (401, 403)  # invalid_token, device_disabled
BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


def device_router(requests: DeviceHandlers, auth: DeviceAuthenticator, push: PushChannel,
                  packages: PackageCache, staging: StagingHandlers, presence: Presence, *,
                  public_url: str | None,
                  retired_protocols: Collection[str] = ()) -> APIRouter:
    """``public_url``: how devices reach this gateway (the base of the package URL of a
    directive; unset: the base URL the device's request came to). ``retired_protocols``: when
    it names this version, every request answers 410 ``protocol_retired``. A long-poll marks
    its device seen (``presence``: the grid's "online now")."""

    async def retired() -> None:
        raise protocol_retired(VERSION)

    # a served version resolves no dependency of its own on each request
    router = APIRouter(prefix=f"/device/{VERSION}", tags=["devices"], route_class=DeviceRoute,
                       dependencies=([Depends(retired)] if VERSION in retired_protocols
                                     else []), responses={
                           **refusals(422),
                           410: {"model": Problem, "description": "this protocol version is "
                                 "retired (protocol_retired): update the app"}})

    def package_url(request: Request, path: str = PACKAGE_PATH) -> str:
        return (public_url or str(request.base_url)).rstrip("/") + path

    Device = Depends(DeviceToken(auth))

    @router.post("/registrations", status_code=201, response_model=RegistrationOut,
                 responses=refusals(401, 403, 413, 429))
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
            secret_proof=secret_proof, idempotency_key=idempotency_key, agent=body.agent,
            client=request.client.host if request.client else "unknown"))
        return RegistrationOut(serial=done.serial, site_id=done.site_id,
                               device_token=done.device_token,
                               device_secret=done.device_secret, site_version=done.site_version,
                               update_required=done.update_required)

    @router.get("/notifications", response_model=NotificationsOut,
                responses=refusals(*AUTHENTICATED))
    async def notifications(
        wait: float = Query(25.0, ge=0, le=30), device: AuthenticatedDevice = Device
    ) -> JSONResponse:
        presence.seen(device.site_id, device.serial)
        items = await push.poll(device.site_id, device.serial, wait)
        return JSONResponse({"notifications": [_notification_json(n) for n in items]})

    @router.post("/notifications/{notification_id}/ack", status_code=204,
                 responses=refusals(*AUTHENTICATED, 404, 413))
    async def acknowledge(notification_id: Annotated[str, Field(max_length=20)],
                          device: AuthenticatedDevice = Device) -> Response:
        await requests.acknowledge(device, notification_id)
        return Response(status_code=204)

    @router.post("/blocked", status_code=204, responses=refusals(*AUTHENTICATED, 409, 413))
    async def blocked(body: BlockedBody, device: AuthenticatedDevice = Device) -> Response:
        await requests.blocked(device, body.update_id)
        return Response(status_code=204)

    @router.post("/sync", response_model=SyncOut, responses=refusals(*AUTHENTICATED, 409, 413))
    async def sync(body: SyncBody, device: AuthenticatedDevice = Device) -> SyncOut:
        decision = await requests.sync(device, body.update_id)
        return SyncOut(accepted=decision.accepted,
                       waiting_for_update=decision.waiting_for_update)

    @router.get("/update", response_model=DirectiveOut,
                responses={204: {"description": "nothing to install"},
                           **refusals(*AUTHENTICATED, 409)})
    async def directive(request: Request, device: AuthenticatedDevice = Device) -> Any:
        decided = await requests.directive(device)
        if decided.in_preparation:
            raise in_preparation()
        if decided.package is None:
            return Response(status_code=204)
        package = decided.package
        target = await requests.tuf_target(package)
        return DirectiveOut(update_id=decided.update_id, reason=decided.reason or "update",
                            version=package.version, size=package.size, sha256=package.sha256,
                            url=package_url(request),
                            tuf=None if target is None else TufTargetOut(
                                target=target, length=package.size,
                                hashes={"sha256": package.sha256}),
                            staged=decided.staged)

    @router.get("/package", response_class=Response,
                responses={200: {"description": "the package", "content": BINARY},
                           206: {"description": "part of the package", "content": BINARY},
                           **refusals(*AUTHENTICATED, 404, 409, 416, 503)})
    async def package(request: Request, device: AuthenticatedDevice = Device) -> Response:
        package = await requests.package(device)
        return _file_response(await _stored(packages, package), package, request)

    @router.head("/package", responses=refusals(*AUTHENTICATED, 404, 409, 503))
    async def package_headers(device: AuthenticatedDevice = Device) -> Response:
        """The headers of the whole package's ``GET`` (size, ETag, Accept-Ranges), no body."""
        package = await requests.package(device)
        await _stored(packages, package)
        headers = {**_package_headers(package), "Content-Length": str(package.size)}
        return Response(status_code=200, headers=headers)

    @router.post("/staging", response_model=StagingOut,
                 responses={204: {"description": "nothing to stage now"},
                            **refusals(*AUTHENTICATED, 429)})
    async def staging_slot(request: Request, device: AuthenticatedDevice = Device) -> Any:
        """Staging (§5a): may this device download the site's next release in the background
        now? 200: yes, it holds one of its site's slots for ``slot_s`` seconds (asking again
        renews it); 429 ``staging_busy``: every slot of the site is taken, ask again after
        ``Retry-After``; 204: nothing to stage."""
        grant = await staging.ask(device)
        if grant is None:
            return Response(status_code=204)
        package = grant.package
        return StagingOut(product=package.product, version=package.version, size=package.size,
                          sha256=package.sha256, slot_s=grant.slot_s,
                          url=package_url(request, STAGING_PACKAGE_PATH))

    @router.get("/staging/package", response_class=Response,
                responses={200: {"description": "the package", "content": BINARY},
                           206: {"description": "part of the package", "content": BINARY},
                           **refusals(*AUTHENTICATED, 404, 409, 416, 503)})
    async def staging_package(request: Request, device: AuthenticatedDevice = Device
                              ) -> Response:
        """The release to stage, with Range (resume after a cut); only while the device holds
        a slot (409 ``no_staging_slot``: ask again with ``POST /staging``)."""
        package = await staging.package(device)
        return _file_response(await _stored(packages, package), package, request)

    @router.post("/staged", status_code=204, responses=refusals(*AUTHENTICATED, 409, 413))
    async def staged(body: StagedBody, device: AuthenticatedDevice = Device) -> Response:
        """The device verified the package's size and sha256 and keeps it, not installed:
        its slot is freed; after END UPDATE the directive says ``staged: true``."""
        await staging.staged(device, body.sha256)
        return Response(status_code=204)

    @router.post("/version", status_code=204, responses=refusals(*AUTHENTICATED, 413))
    async def version(body: VersionBody, device: AuthenticatedDevice = Device) -> Response:
        await requests.report_version(device, body.app_version)
        return Response(status_code=204)

    return router


def _notification_json(notification: Notification) -> dict[str, str]:
    return {"id": str(notification.seq), "kind": notification.kind,
            "update_id": notification.update_id,
            "created_at": notification.created_at.isoformat()}


async def _stored(packages: PackageCache, package: updates.Package) -> Path:
    try:
        return await packages.path(package)
    except PackageUnavailable as exc:
        raise DeviceRefused("package_unavailable", "the package is not yet available at "
                            f"the gateway; retry in a minute ({exc})",
                            retry_after=30) from exc


def _package_headers(package: updates.Package) -> dict[str, str]:
    return {"Accept-Ranges": "bytes", "ETag": f'"{package.sha256}"',
            "Content-Type": "application/octet-stream"}


def _file_response(path: Path, package: updates.Package, request: Request) -> Response:
    size = package.size
    headers = _package_headers(package)
    etag = headers["ETag"]
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
