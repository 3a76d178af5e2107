"""U14 and optimistic concurrency: simultaneous admin clicks never make two updates or two
phase transitions."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from lockstep_shared.catalogue import InstallSucceeded
from orchestrator.adapters.tables import updates

from .conftest import SITE_BODY, Harness, downloaded

pytestmark = pytest.mark.integration
OPEN = {"product": "shop", "backups_confirmed": True}


async def test_concurrent_open_clicks_give_one_update(harness: Harness) -> None:
    h = harness
    await h.client.post("/api/v1/sites", json=SITE_BODY)
    await h.deliver(h.watcher, downloaded())
    await h.outbox()

    answers = await asyncio.gather(*(
        h.client.post("/api/v1/sites/shop-1/updates", json=OPEN,
                      headers={"X-Lockstep-Actor": f"admin{n}"})
        for n in range(6)
    ))
    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 409, 409, 409, 409, 409]
    assert all("update" in a.json()["detail"] for a in answers if a.status_code == 409)
    async with h.service.engine.connect() as conn:
        active = (await conn.execute(select(func.count()).select_from(updates)
                                     .where(updates.c.active.is_(True)))).scalar_one()
    assert active == 1
    assert await h.outbox_types() == ["lockstep.update.opened"]


async def test_concurrent_end_clicks_release_the_devices_once(harness: Harness) -> None:
    h = harness
    c = h.client
    await c.post("/api/v1/sites", json=SITE_BODY)
    await h.deliver(h.watcher, downloaded())
    uid = (await c.post("/api/v1/sites/shop-1/updates", json=OPEN)).json()["update_id"]
    assert (await c.post(f"/api/v1/updates/{uid}/start-notifications")).status_code == 202
    assert (await c.post(f"/api/v1/updates/{uid}/server-update")).status_code == 202
    await h.deliver(h.agent, InstallSucceeded(site_id="shop-1", update_id=uid,
                                              installed_version="03.01.00_031", duration_s=1))
    await h.outbox()

    answers = await asyncio.gather(*(c.post(f"/api/v1/updates/{uid}/end-notifications")
                                     for _ in range(4)))
    assert [a.status_code for a in answers] == [202] * 4
    types = await h.outbox_types()
    assert types.count("lockstep.update.devices-released") == 1
    assert types.count("lockstep.device.notification-requested") == 4
    assert (await c.get(f"/api/v1/updates/{uid}")).json()["version"] == 4 + 4


async def test_the_database_itself_refuses_a_second_active_update(harness: Harness) -> None:
    """Even a replica that read "no active update" before another committed is stopped by
    the partial unique index (the last line of U14)."""
    from dataclasses import replace

    from orchestrator.adapters.updates_repository import UpdatesRepository
    from orchestrator.domain.model import UpdateAlreadyActive

    h = harness
    await h.client.post("/api/v1/sites", json=SITE_BODY)
    await h.deliver(h.watcher, downloaded())
    uid = (await h.client.post("/api/v1/sites/shop-1/updates", json=OPEN)).json()["update_id"]
    repo = UpdatesRepository()
    async with h.service.engine.connect() as conn:
        first = await repo.get(conn, uid)
    assert first is not None
    with pytest.raises(UpdateAlreadyActive):
        async with h.service.engine.begin() as conn:
            await repo.add(conn, replace(first, update_id="racing-replica", version=0))
    cancelled = await h.client.post(f"/api/v1/updates/{uid}/cancellation")
    assert cancelled.status_code == 200
    async with h.service.engine.begin() as conn:  # a closed update no longer holds the site
        await repo.add(conn, replace(first, update_id="next-one", version=0))
