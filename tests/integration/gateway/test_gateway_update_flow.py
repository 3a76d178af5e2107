"""D3-D7: blocked, sync acknowledgement, update directive, package download, version report."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest

from device_gateway.adapters import repository
from lockstep_shared.artifacts import ArtifactStore
from lockstep_shared.catalogue import (
    DeviceBlocked,
    DeviceDataHandedIn,
    DevicesReleased,
    DeviceVersionReported,
    PackageRef,
    ServerUpdateStarted,
    UpdateConcluded,
    UpdateOpened,
)

pytestmark = pytest.mark.integration

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB
SHA = hashlib.sha256(PAYLOAD).hexdigest()
PACKAGE = PackageRef(product="shop", version="03.01.00_031", sha256=SHA, size=len(PAYLOAD),
                     url="http://127.0.0.1:9/watcher/v1/artifacts/" + SHA)


async def phase_is(gateway: Any, phase: str) -> bool:
    async with gateway.service.engine.connect() as conn:
        update = await repository.load_site_update(conn, "shop-1")
    return update is not None and update.phase.value == phase


async def open_update(gateway: Any) -> None:
    await gateway.publish(UpdateOpened(site_id="shop-1", update_id="upd-1",
                                       from_version="03.01.00_030", package=PACKAGE))
    await gateway.eventually(lambda: phase_is(gateway, "preparing"))


async def start_server_update(gateway: Any, waiting: tuple[str, ...]) -> None:
    await gateway.publish(ServerUpdateStarted(site_id="shop-1", update_id="upd-1", forced=True,
                                              waiting_serials=waiting))
    await gateway.eventually(lambda: phase_is(gateway, "server_updating"))


async def release(gateway: Any) -> None:
    await gateway.publish(DevicesReleased(site_id="shop-1", update_id="upd-1", package=PACKAGE))
    await gateway.eventually(lambda: phase_is(gateway, "released"))


async def sync(gateway: Any, device: dict[str, Any], update_id: str | None) -> Any:
    return await gateway.client.post("/device/v1/sync", json={"update_id": update_id,
                                                              "records": 12},
                                     headers=gateway.auth(device))


async def test_sync_in_normal_work_is_accepted_without_waiting(gateway: Any) -> None:
    device = await gateway.register("dev-1")

    response = await sync(gateway, device, None)

    assert response.status_code == 200
    assert response.json() == {"accepted": True, "waiting_for_update": False}
    await gateway.eventually(lambda: len(gateway.events(DeviceDataHandedIn)) == 1)
    assert gateway.events(DeviceDataHandedIn)[0].update_id is None


async def test_blocked_then_sync_in_phase_1_makes_the_device_wait(gateway: Any) -> None:
    device = await gateway.register("dev-1")
    early = await gateway.client.post("/device/v1/blocked", json={"update_id": "upd-1"},
                                      headers=gateway.auth(device))
    await open_update(gateway)

    wrong = await gateway.client.post("/device/v1/blocked", json={"update_id": "upd-9"},
                                      headers=gateway.auth(device))
    blocked = await gateway.client.post("/device/v1/blocked", json={"update_id": "upd-1"},
                                        headers=gateway.auth(device))
    synced = await sync(gateway, device, "upd-1")

    assert early.status_code == 409 and wrong.status_code == 409
    assert "not this site's active update" in wrong.json()["detail"]
    assert blocked.status_code == 204
    assert synced.json() == {"accepted": True, "waiting_for_update": True}
    await gateway.eventually(lambda: len(gateway.events(DeviceDataHandedIn)) == 1)
    assert gateway.events(DeviceBlocked)[0].update_id == "upd-1"
    assert gateway.events(DeviceDataHandedIn)[0].update_id == "upd-1"


async def test_a_hand_in_before_blocking_is_normal_work_not_waiting(gateway: Any) -> None:
    """Issue 9 §1: a device that hands in naming the update without having reported itself
    blocked keeps working: its data is taken, it is not waiting, and once the server update
    started without it its hand-ins are refused. Waiting = blocked, then handed in."""
    skipper = await gateway.register("dev-skips-blocked")
    device = await gateway.register("dev-1")
    await open_update(gateway)
    blocked = gateway.auth(device)

    skipped = await sync(gateway, skipper, "upd-1")
    early = await sync(gateway, device, "upd-1")  # before its /blocked
    first = await gateway.client.post("/device/v1/blocked", json={"update_id": "upd-1"},
                                      headers=blocked)
    gateway.clock.advance(timedelta(seconds=30))
    again = await gateway.client.post("/device/v1/blocked", json={"update_id": "upd-1"},
                                      headers=blocked)
    unnamed = await sync(gateway, device, None)  # a device blocked by START names its update
    waiting = await sync(gateway, device, "upd-1")

    not_waiting = {"accepted": True, "waiting_for_update": False}
    assert skipped.json() == not_waiting and early.json() == not_waiting
    assert first.status_code == again.status_code == 204
    assert unnamed.json() == not_waiting
    assert waiting.json() == {"accepted": True, "waiting_for_update": True}
    await gateway.eventually(lambda: len(gateway.events(DeviceDataHandedIn)) == 4)
    first_block, repeated = gateway.events(DeviceBlocked)
    assert repeated.blocked_at == first_block.blocked_at  # the same block, reported again
    hand_ins = [(e.serial, e.update_id, e.blocked_at) for e in gateway.events(DeviceDataHandedIn)]
    assert hand_ins == [("dev-skips-blocked", None, None), ("dev-1", None, None),
                        ("dev-1", None, None), ("dev-1", "upd-1", first_block.blocked_at)]

    await start_server_update(gateway, waiting=("dev-1",))
    refused = await sync(gateway, skipper, "upd-1")
    admitted = await sync(gateway, device, "upd-1")
    assert refused.status_code == 409 and refused.json()["code"] == "sync_refused"
    assert admitted.json() == {"accepted": True, "waiting_for_update": True}


async def test_sync_naming_an_update_not_the_sites_is_refused_like_blocked(
    gateway: Any,
) -> None:
    await gateway.configure_site("shop-2", "enrol-shop-2")
    device = await gateway.register("dev-1")
    other = await gateway.register("dev-9", site_id="shop-2", code="enrol-shop-2")
    await open_update(gateway)
    await gateway.publish(UpdateOpened(site_id="shop-2", update_id="upd-2",
                                       from_version="03.01.00_030", package=PACKAGE))
    await gateway.eventually(lambda: _blocked_ok(gateway, other, "upd-2"))
    assert await _blocked_ok(gateway, device, "upd-1")  # waiting = blocked, then handed in

    made_up = await sync(gateway, device, "upd-made-up")
    other_sites = await sync(gateway, device, "upd-2")
    own = await sync(gateway, device, "upd-1")

    for refused in (made_up, other_sites):
        assert refused.status_code == 409
        assert refused.json()["code"] == "not_active_update"
        assert "not this site's current or last update" in refused.json()["detail"]
    assert own.status_code == 200
    await gateway.eventually(lambda: len(gateway.events(DeviceDataHandedIn)) == 1)
    assert [e.update_id for e in gateway.events(DeviceDataHandedIn)] == ["upd-1"]


async def _blocked_ok(gateway: Any, device: dict[str, Any], update_id: str) -> bool:
    response = await gateway.client.post("/device/v1/blocked", json={"update_id": update_id},
                                         headers=gateway.auth(device))
    return response.status_code == 204


async def test_sync_refused_once_the_server_update_started_without_the_device(
    gateway: Any,
) -> None:
    waiting = await gateway.register("dev-waiting")
    late = await gateway.register("dev-late")
    await open_update(gateway)
    assert (await sync(gateway, waiting, "upd-1")).status_code == 200
    await start_server_update(gateway, waiting=("dev-waiting",))

    refused = await sync(gateway, late, "upd-1")
    still_ok = await sync(gateway, waiting, "upd-1")

    assert refused.status_code == 409
    assert refused.json() == {
        "detail": "the server update has already started without this device: its unsent data "
                  "cannot be accepted now because the versions differ; contact the site admin",
        "code": "sync_refused"}
    assert still_ok.json() == {"accepted": True, "waiting_for_update": True}
    blocked_late = await gateway.client.post("/device/v1/blocked", json={"update_id": "upd-1"},
                                             headers=gateway.auth(late))
    assert blocked_late.status_code == 409


async def test_directive_is_409_until_released_then_the_package(gateway: Any) -> None:
    device = await gateway.register("dev-1")
    nothing = await gateway.client.get("/device/v1/update", headers=gateway.auth(device))
    await open_update(gateway)
    preparing = await gateway.client.get("/device/v1/update", headers=gateway.auth(device))
    package_early = await gateway.client.get("/device/v1/package", headers=gateway.auth(device))
    await start_server_update(gateway, waiting=("dev-1",))
    updating = await gateway.client.get("/device/v1/update", headers=gateway.auth(device))
    await release(gateway)
    released = await gateway.client.get("/device/v1/update", headers=gateway.auth(device))

    assert nothing.status_code == 204
    for refused in (preparing, updating, package_early):
        assert refused.status_code == 409
        assert refused.json() == {"detail": "update in preparation: wait for END UPDATE",
                                  "code": "update_in_preparation"}
    assert released.status_code == 200
    assert released.json() == {"update_id": "upd-1", "reason": "update", "version": "03.01.00_031",
                               "size": len(PAYLOAD), "sha256": SHA,
                               "url": gateway.base_url + "/device/v1/package",
                               "tuf": None,  # a package announced without its TUF target
                               "staged": False}


async def test_the_directive_names_the_packages_tuf_target_for_devices_that_verify(
        gateway: Any) -> None:
    """Issue 10: a device that verifies TUF itself is told where the package is in the
    vendor's signed metadata, with the length and hash signed there."""
    device = await gateway.register("dev-1")
    signed = PACKAGE.model_copy(update={"target": "packages/shop/03.01.00_031/shop.tar.gz"})
    await gateway.publish(UpdateOpened(site_id="shop-1", update_id="upd-1",
                                       from_version="03.01.00_030", package=signed))
    await gateway.eventually(lambda: phase_is(gateway, "preparing"))
    await start_server_update(gateway, waiting=("dev-1",))
    await release(gateway)

    directive = await gateway.client.get("/device/v1/update", headers=gateway.auth(device))

    assert directive.status_code == 200, directive.text
    assert directive.json()["tuf"] == {"target": "packages/shop/03.01.00_031/shop.tar.gz",
                                       "length": len(PAYLOAD), "hashes": {"sha256": SHA}}


async def test_the_package_url_follows_the_configured_public_url(start_gateway: Any) -> None:
    gateway = await start_gateway(public_url="https://gw.example.com/lockstep/")
    await gateway.configure_site()
    device = await gateway.register("dev-1")
    await open_update(gateway)
    await start_server_update(gateway, waiting=("dev-1",))
    await release(gateway)

    directive = await gateway.client.get("/device/v1/update", headers=gateway.auth(device))

    assert directive.json()["url"] == "https://gw.example.com/lockstep/device/v1/package"


async def test_nothing_to_download_is_404_and_in_preparation_409(gateway: Any) -> None:
    device = await gateway.register("dev-1")
    headers = gateway.auth(device)

    nothing = await gateway.client.get("/device/v1/package", headers=headers)
    nothing_head = await gateway.client.head("/device/v1/package", headers=headers)
    await open_update(gateway)
    preparing_head = await gateway.client.head("/device/v1/package", headers=headers)

    assert nothing.status_code == 404
    assert nothing.json()["code"] == "nothing_to_download"
    assert "GET /device/v1/update" in nothing.json()["detail"]
    assert nothing_head.status_code == 404 and nothing_head.content == b""
    assert preparing_head.status_code == 409 and preparing_head.content == b""


async def test_package_download_with_ranges(gateway: Any, tmp_path: Any) -> None:
    store = ArtifactStore(tmp_path / "artifacts")  # the store the gateway shares (single-node)
    store.path_for(SHA).write_bytes(PAYLOAD)
    device = await gateway.register("dev-1")
    await open_update(gateway)
    await start_server_update(gateway, waiting=("dev-1",))
    await release(gateway)
    headers = gateway.auth(device)
    etag = f'"{SHA}"'

    full = await gateway.client.get("/device/v1/package", headers=headers)
    part = await gateway.client.get("/device/v1/package", headers={**headers,
                                                                   "Range": "bytes=1000-"})
    middle = await gateway.client.get("/device/v1/package", headers={
        **headers, "Range": "bytes=10-19", "If-Range": etag})
    changed = await gateway.client.get("/device/v1/package", headers={
        **headers, "Range": "bytes=1000-", "If-Range": '"' + "0" * 64 + '"'})
    beyond = await gateway.client.get("/device/v1/package", headers={
        **headers, "Range": f"bytes={len(PAYLOAD)}-"})

    assert full.status_code == 200 and full.content == PAYLOAD
    assert full.headers["etag"] == etag and full.headers["accept-ranges"] == "bytes"
    assert part.status_code == 206 and part.content == PAYLOAD[1000:]
    assert part.headers["content-range"] == f"bytes 1000-{len(PAYLOAD) - 1}/{len(PAYLOAD)}"
    assert middle.status_code == 206 and middle.content == PAYLOAD[10:20]
    assert changed.status_code == 200 and changed.content == PAYLOAD
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(PAYLOAD)}"

    head = await gateway.client.head("/device/v1/package", headers=headers)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(PAYLOAD))
    assert head.headers["etag"] == etag and head.headers["accept-ranges"] == "bytes"
    assert head.headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_package_not_in_store_and_not_fetchable_is_503(gateway: Any) -> None:
    device = await gateway.register("dev-1")
    await open_update(gateway)
    await start_server_update(gateway, waiting=("dev-1",))
    await release(gateway)

    response = await gateway.client.get("/device/v1/package", headers=gateway.auth(device))

    assert response.status_code == 503
    assert response.json()["code"] == "package_unavailable"
    assert response.headers["retry-after"] == "30"


async def test_version_report_then_nothing_to_install(gateway: Any) -> None:
    device = await gateway.register("dev-1")
    await open_update(gateway)
    await start_server_update(gateway, waiting=("dev-1",))
    await release(gateway)

    reported = await gateway.client.post("/device/v1/version", json={"app_version": "03.01.00_031"},
                                         headers=gateway.auth(device))
    directive = await gateway.client.get("/device/v1/update", headers=gateway.auth(device))
    bad = await gateway.client.post("/device/v1/version", json={"app_version": "x"},
                                    headers=gateway.auth(device))

    assert reported.status_code == 204 and directive.status_code == 204
    assert bad.status_code == 422
    await gateway.eventually(lambda: len(gateway.events(DeviceVersionReported)) == 1)
    assert gateway.events(DeviceVersionReported)[0].app_version == "03.01.00_031"


async def test_late_device_after_conclusion_is_told_to_install(gateway: Any) -> None:
    device = await gateway.register("dev-late")
    await open_update(gateway)
    await start_server_update(gateway, waiting=())
    await release(gateway)
    await gateway.publish(UpdateConcluded(site_id="shop-1", update_id="upd-1", product="shop",
                                          version="03.01.00_031"))
    await gateway.eventually(lambda: phase_is(gateway, "concluded"))

    directive = await gateway.client.get("/device/v1/update", headers=gateway.auth(device))
    synced = await sync(gateway, device, None)

    assert directive.status_code == 200 and directive.json()["version"] == "03.01.00_031"
    # its unsent data is from the old version: refused until it runs the site's (D4)
    assert synced.status_code == 409 and synced.json()["code"] == "sync_refused"


async def test_package_is_fetched_into_the_store_when_the_update_opens(
    start_gateway: Any, tmp_path: Any
) -> None:
    """From the watcher's internal route: with the internal token."""
    gateway = await start_gateway(internal_token="t-internal")
    await gateway.configure_site()
    import asyncio
    import socket

    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def artifact(request: Any) -> Response:
        if request.headers.get("x-lockstep-internal") != "t-internal":
            return Response(status_code=401)
        return Response(PAYLOAD, media_type="application/octet-stream")

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    watcher = uvicorn.Server(uvicorn.Config(
        Starlette(routes=[Route(f"/watcher/v1/artifacts/{SHA}", artifact)]),
        log_config=None, access_log=False, lifespan="off"))
    watcher.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    serving = asyncio.create_task(watcher.serve(sockets=[sock]))
    try:
        package = PACKAGE.model_copy(update={"url": f"http://127.0.0.1:{port}/watcher/v1/artifacts/{SHA}"})
        await gateway.publish(UpdateOpened(site_id="shop-1", update_id="upd-1",
                                           from_version="03.01.00_030", package=package))
        store = ArtifactStore(tmp_path / "artifacts")
        await gateway.eventually(lambda: store.has(SHA, len(PAYLOAD)))
        assert store.path_for(SHA).read_bytes() == PAYLOAD
    finally:
        watcher.should_exit = True
        await serving
        sock.close()
