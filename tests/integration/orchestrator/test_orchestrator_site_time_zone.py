"""The site's time zone (IANA, default UTC): set at creation or by its admin, refused with a
reason the console translates when unknown."""

from __future__ import annotations

from .conftest import SITE_BODY, Harness


async def test_a_site_has_a_time_zone_its_admin_can_change(harness: Harness) -> None:
    c = harness.client
    created = await c.post("/api/v1/sites", json=SITE_BODY)
    assert created.status_code == 201, created.text
    assert created.json()["time_zone"] == "UTC"
    changed = await c.put("/api/v1/sites/shop-1/time-zone", json={"time_zone": "Europe/Rome"})
    assert changed.status_code == 200, changed.text
    assert (await c.get("/api/v1/sites/shop-1")).json()["time_zone"] == "Europe/Rome"
    assert [s["time_zone"] for s in (await c.get("/api/v1/sites")).json()] == ["Europe/Rome"]

    wrong = await c.put("/api/v1/sites/shop-1/time-zone", json={"time_zone": "Mars/Olympus"})
    assert wrong.status_code == 422
    assert wrong.json()["reason"] == "unknown_time_zone"
    assert wrong.json()["params"] == {"time_zone": "Mars/Olympus"}
    assert (await c.get("/api/v1/sites/shop-1")).json()["time_zone"] == "Europe/Rome"
    audit = (await c.get("/api/v1/audit", params={"site_id": "shop-1"})).json()["entries"]
    assert any(e["action"] == "site.time_zone" for e in audit)


async def test_a_site_is_created_in_its_time_zone(harness: Harness) -> None:
    c = harness.client
    bad = await c.post("/api/v1/sites", json={**SITE_BODY, "time_zone": "../etc/passwd"})
    assert bad.status_code == 422 and bad.json()["reason"] == "unknown_time_zone"
    assert (await c.get("/api/v1/sites/shop-1")).status_code == 404
    made = await c.post("/api/v1/sites", json={**SITE_BODY, "time_zone": "Europe/Moscow"})
    assert made.status_code == 201 and made.json()["time_zone"] == "Europe/Moscow"


async def test_a_refusal_names_its_reason_and_parameters(harness: Harness) -> None:
    c = harness.client
    await c.post("/api/v1/sites", json=SITE_BODY)
    again = await c.post("/api/v1/sites", json=SITE_BODY)
    assert again.status_code == 409
    assert again.json() | {"detail": ""} == {"detail": "", "code": "already_exists",
                                              "reason": "site_exists",
                                              "params": {"site": "shop-1"}}
    opened = await c.post("/api/v1/sites/shop-1/updates", json={"product": "shop"})
    assert opened.json()["reason"] == "backups_not_confirmed", opened.text
