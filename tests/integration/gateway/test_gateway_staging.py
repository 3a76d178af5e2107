"""Staging (issue 14 §2): once the site downloaded its next release, devices download it in the
background within the site's slots, resumably, report it staged once, and after END UPDATE
the directive tells them to install it without downloading."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from device_gateway.adapters.tables import staging_slots
from lockstep_shared.artifacts import ArtifactStore
from lockstep_shared.bus import Outgoing
from lockstep_shared.catalogue import DevicePackageStaged, ReleaseDownloaded
from lockstep_shared.message_factory import MessageFactory

from .test_gateway_update_flow import (
    PACKAGE,
    PAYLOAD,
    SHA,
    open_update,
    release,
    start_server_update,
)

pytestmark = pytest.mark.integration

watcher = MessageFactory("release-watcher")


async def offer_release(gateway: Any) -> None:
    await gateway.bus.publish([Outgoing.of(watcher.new(ReleaseDownloaded(
        site_id="shop-1", product="shop", version=PACKAGE.version, package=PACKAGE)))])

    probe = await gateway.register("probe")

    async def offered() -> bool:
        answer = await gateway.client.post("/device/v1/staging", headers=gateway.auth(probe))
        return answer.status_code == 200

    await gateway.eventually(offered)
    async with gateway.service.engine.begin() as conn:  # the probe's slot is not the test's
        await conn.execute(staging_slots.delete())


async def ask(gateway: Any, device: dict[str, Any]) -> Any:
    return await gateway.client.post("/device/v1/staging", headers=gateway.auth(device))


async def staged(gateway: Any, device: dict[str, Any], sha: str = SHA) -> Any:
    return await gateway.client.post("/device/v1/staged", json={"sha256": sha},
                                     headers=gateway.auth(device))


async def test_nothing_to_stage_before_the_site_downloaded_a_release(gateway: Any) -> None:
    device = await gateway.register("dev-1")
    assert (await ask(gateway, device)).status_code == 204
    package = await gateway.client.get("/device/v1/staging/package",
                                       headers=gateway.auth(device))
    assert package.status_code == 404
    assert package.json()["code"] == "nothing_to_stage"


async def test_slots_bound_the_site_and_staging_is_reported_once(
    start_gateway: Any, tmp_path: Any
) -> None:
    gateway = await start_gateway(staging_slots_per_site=2, staging_slot_s=60)
    await gateway.configure_site()
    ArtifactStore(tmp_path / "artifacts").path_for(SHA).write_bytes(PAYLOAD)
    await offer_release(gateway)
    one, two, three = [await gateway.register(f"dev-{n}") for n in (1, 2, 3)]

    first = await ask(gateway, one)
    assert first.status_code == 200, first.text
    assert first.json()["sha256"] == SHA and first.json()["version"] == PACKAGE.version
    assert first.json()["url"].endswith("/device/v1/staging/package")
    assert (await ask(gateway, two)).status_code == 200
    busy = await ask(gateway, three)
    assert busy.status_code == 429 and busy.json()["code"] == "staging_busy"
    assert 2 <= int(busy.headers["Retry-After"]) <= 15
    assert (await ask(gateway, one)).status_code == 200  # its own slot is renewed, not refused

    no_slot = await gateway.client.get("/device/v1/staging/package",
                                       headers=gateway.auth(three))
    assert no_slot.status_code == 409 and no_slot.json()["code"] == "no_staging_slot"
    part = await gateway.client.get("/device/v1/staging/package",
                                    headers={**gateway.auth(one), "Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == PAYLOAD[:10]
    rest = await gateway.client.get("/device/v1/staging/package",
                                    headers={**gateway.auth(one), "Range": "bytes=10-"})
    assert part.content + rest.content == PAYLOAD

    wrong = await staged(gateway, one, "0" * 64)
    assert wrong.status_code == 409 and wrong.json()["code"] == "not_the_offer"
    for _ in range(2):
        assert (await staged(gateway, one)).status_code == 204
    assert (await ask(gateway, three)).status_code == 200  # the staged device freed its slot
    assert (await ask(gateway, one)).status_code == 204  # staged: nothing more to stage
    await gateway.eventually(lambda: len(gateway.events(DevicePackageStaged)) == 1)
    await asyncio.sleep(0.3)
    [event] = gateway.events(DevicePackageStaged)
    assert (event.serial, event.product, event.version, event.sha256) == (
        "dev-1", "shop", PACKAGE.version, SHA)

    gateway.clock.advance(timedelta(seconds=61))  # the others' slots ended: free again
    four = await gateway.register("dev-4")
    assert (await ask(gateway, four)).status_code == 200


async def test_after_end_the_directive_says_which_devices_staged_it(
    gateway: Any, tmp_path: Any
) -> None:
    ArtifactStore(tmp_path / "artifacts").path_for(SHA).write_bytes(PAYLOAD)
    await offer_release(gateway)
    holder, other = await gateway.register("dev-1"), await gateway.register("dev-2")
    assert (await ask(gateway, holder)).status_code == 200
    assert (await staged(gateway, holder)).status_code == 204

    await open_update(gateway)
    in_phase_1 = await gateway.client.get("/device/v1/update", headers=gateway.auth(holder))
    assert in_phase_1.status_code == 409
    await start_server_update(gateway, waiting=("dev-1", "dev-2"))
    await release(gateway)

    mine = await gateway.client.get("/device/v1/update", headers=gateway.auth(holder))
    theirs = await gateway.client.get("/device/v1/update", headers=gateway.auth(other))
    assert mine.status_code == theirs.status_code == 200
    assert (mine.json()["staged"], theirs.json()["staged"]) == (True, False)
    assert mine.json()["sha256"] == theirs.json()["sha256"] == SHA
