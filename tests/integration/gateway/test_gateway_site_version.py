"""ERROR UPDATE unblocks (U12), and D10: outside an update a device follows its site's version
(downgrade included), late devices after conclusion too; the package is served and fetched."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from device_gateway.adapters.tables import devices
from lockstep_shared.artifacts import ArtifactStore
from lockstep_shared.catalogue import (
    DeviceNotificationDelivered,
    DeviceNotificationRequested,
    DevicesReleased,
    DeviceUnblocked,
    PackageRef,
    ProductVersion,
    ServerUpdateStarted,
    SiteConfigured,
    SiteVersionPackageReady,
    UpdateConcluded,
)

from .test_gateway_update_flow import PACKAGE, open_update, phase_is

pytestmark = pytest.mark.integration

OLD = b"the site's version 03.01.00_030 " * 1000
OLD_SHA = hashlib.sha256(OLD).hexdigest()
TARGET = "packages/shop/03.01.00_030/shop.tar.gz"


def site_package(url: str = "http://127.0.0.1:9/none") -> PackageRef:
    return PackageRef(product="shop", version="03.01.00_030", sha256=OLD_SHA, size=len(OLD),
                      url=url, target=TARGET)


async def directive(gateway: Any, device: dict[str, Any]) -> Any:
    return await gateway.client.get("/device/v1/update", headers=gateway.auth(device))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_error_ack_unblocks_the_device_once(gateway: Any) -> None:
    device = await gateway.register("dev-1")
    await open_update(gateway)
    blocked = await gateway.client.post("/device/v1/blocked", json={"update_id": "upd-1"},
                                        headers=gateway.auth(device))
    assert blocked.status_code == 204
    await gateway.publish(DeviceNotificationRequested(
        site_id="shop-1", update_id="upd-1", kind="error", request_id="req-err"))
    response = await gateway.client.get("/device/v1/notifications?wait=10",
                                        headers=gateway.auth(device))
    [notification] = response.json()["notifications"]
    assert notification["kind"] == "error"

    for _ in range(2):  # a repeated ack is a no-op
        ack = await gateway.client.post(f"/device/v1/notifications/{notification['id']}/ack",
                                        headers=gateway.auth(device))
        assert ack.status_code == 204

    await gateway.eventually(lambda: len(gateway.events(DeviceNotificationDelivered)) == 1)
    await gateway.eventually(lambda: len(gateway.events(DeviceUnblocked)) == 1)
    await asyncio.sleep(0.3)
    [unblocked] = gateway.events(DeviceUnblocked)
    assert (unblocked.update_id, unblocked.serial, unblocked.by_code) == ("upd-1", "dev-1", False)
    async with gateway.service.engine.connect() as conn:
        assert (await conn.execute(select(devices.c.blocked_update_id))).scalar_one() is None


async def test_newer_device_is_told_to_downgrade_to_the_sites_version(
    gateway: Any, tmp_path: Any
) -> None:
    ArtifactStore(tmp_path / "artifacts").path_for(OLD_SHA).write_bytes(OLD)
    await gateway.publish(SiteVersionPackageReady(site_id="shop-1", package=site_package()))
    await gateway.eventually(lambda: _site_package_known(gateway))

    newer = await gateway.register("dev-new", app_version="03.01.00_031")
    same = await gateway.register("dev-same", app_version="03.01.00_030")
    told = await directive(gateway, newer)
    download = await gateway.client.get("/device/v1/package", headers=gateway.auth(newer))

    assert newer["update_required"] is True and newer["site_version"] == "03.01.00_030"
    assert same["update_required"] is False
    assert (await directive(gateway, same)).status_code == 204
    assert told.status_code == 200
    assert told.json() == {"update_id": None, "reason": "site_version",
                           "version": "03.01.00_030", "size": len(OLD), "sha256": OLD_SHA,
                           "url": gateway.base_url + "/device/v1/package",
                           # where a device that verifies TUF finds it (issue 10)
                           "tuf": {"target": TARGET, "length": len(OLD),
                                   "hashes": {"sha256": OLD_SHA}},
                           "staged": False}
    assert download.status_code == 200 and download.content == OLD


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_the_device_product_decides_the_site_version(gateway: Any) -> None:
    await gateway.publish(SiteConfigured(
        site_id="shop-1", name="shop-1", license_key="lic",
        enrolment_code_sha256=hashlib.sha256(gateway.code.encode()).hexdigest(),
        check_interval_s=3600, device_product="shop",
        products=(ProductVersion(product="platform", version="05.00.00"),
                  ProductVersion(product="shop", version="03.01.00_030"))))
    await gateway.publish(SiteVersionPackageReady(site_id="shop-1", package=site_package()))
    await gateway.eventually(lambda: _site_package_known(gateway))

    device = await gateway.register("dev-1", app_version="03.01.00_029")

    assert device["site_version"] == "03.01.00_030" and device["update_required"] is True
    assert (await directive(gateway, device)).json()["version"] == "03.01.00_030"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_late_device_after_conclusion_installs_the_concluded_package(gateway: Any) -> None:
    late = await gateway.register("dev-late")
    await open_update(gateway)
    await gateway.publish(ServerUpdateStarted(site_id="shop-1", update_id="upd-1", forced=True,
                                              waiting_serials=()))
    await gateway.publish(DevicesReleased(site_id="shop-1", update_id="upd-1", package=PACKAGE))
    await gateway.eventually(lambda: phase_is(gateway, "released"))
    await gateway.publish(UpdateConcluded(site_id="shop-1", update_id="upd-1", product="shop",
                                          version="03.01.00_031", package=PACKAGE))
    await gateway.eventually(lambda: phase_is(gateway, "concluded"))

    told = await directive(gateway, late)
    newcomer = await gateway.register("dev-new", app_version="03.01.00_030")
    current = await gateway.register("dev-current", app_version="03.01.00_031")

    assert told.status_code == 200
    assert (told.json()["reason"], told.json()["version"]) == ("site_version", "03.01.00_031")
    assert newcomer["site_version"] == "03.01.00_031" and newcomer["update_required"] is True
    assert current["update_required"] is False


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_site_version_package_is_fetched_into_the_store(
    gateway: Any, tmp_path: Any
) -> None:
    async with _serving(OLD) as url:
        await gateway.publish(SiteVersionPackageReady(site_id="shop-1",
                                                      package=site_package(url)))
        store = ArtifactStore(tmp_path / "artifacts")
        await gateway.eventually(lambda: store.has(OLD_SHA, len(OLD)))
    assert store.path_for(OLD_SHA).read_bytes() == OLD


async def _site_package_known(gateway: Any) -> bool:
    from device_gateway.adapters.tables import site_packages
    async with gateway.service.engine.connect() as conn:
        return (await conn.execute(select(site_packages.c.sha256))).first() is not None


class _serving:
    """A stand-in for the watcher's artifact URL."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    async def __aenter__(self) -> str:
        async def artifact(_request: Request) -> Response:
            return Response(self.payload, media_type="application/octet-stream")

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(
            Starlette(routes=[Route("/artifact", artifact)]), log_config=None,
            access_log=False, lifespan="off"))
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        return f"http://127.0.0.1:{port}/artifact"

    async def __aexit__(self, *_: object) -> None:
        self.server.should_exit = True
        await self.task
        self.sock.close()


