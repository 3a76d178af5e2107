"""The admin API's refusals all answer ``{"detail", "code"}``, with the status of the one table
in ``entrypoints/errors.py`` (and the headers a client needs to act on them)."""

from __future__ import annotations

import pytest

from .conftest import SITE_BODY, Harness

pytestmark = pytest.mark.integration


async def test_refusals_answer_detail_and_code(harness: Harness) -> None:
    c = harness.client
    assert (await c.post("/api/v1/sites", json=SITE_BODY)).status_code == 201

    unknown = await c.get("/api/v1/sites/shop-1/updates/current")
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "no active update at site 'shop-1'", "code": "not_found"}

    twice = await c.post("/api/v1/sites", json=SITE_BODY)
    assert (twice.status_code, twice.json()["code"]) == (409, "already_exists")

    no_release = await c.post("/api/v1/sites/shop-1/updates",
                              json={"product": "shop", "backups_confirmed": True})
    assert (no_release.status_code, no_release.json()["code"]) == (409, "not_allowed")
    assert "wait until the banner is green" in no_release.json()["detail"]

    no_backups = await c.post("/api/v1/sites/shop-1/updates", json={"product": "shop"})
    assert (no_backups.status_code, no_backups.json()["code"]) == (422, "invalid_command")

    anonymous = await c.get("/api/v1/sites", headers={"Authorization": ""})
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthenticated")
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"

    await harness.create_user("carla", "user", "shop-1")
    carla = await harness.login("carla")
    refused = await c.post("/api/v1/sites/shop-1/release-checks", headers=carla)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")

    codes = await c.post("/api/v1/sites/shop-1/devices/IMEI1/codes",
                         json={"action": "block", "code1": "123456"})
    assert (codes.status_code, codes.json()["code"]) == (404, "not_found")


async def test_a_throttled_login_says_when_to_try_again(harness: Harness) -> None:
    c = harness.client
    for _ in range(5):
        wrong = await c.post("/api/v1/sessions", json={"username": "anna", "password": "nope"},
                             headers={"Authorization": ""})
        assert (wrong.status_code, wrong.json()["code"]) == (401, "wrong_credentials")
        assert "WWW-Authenticate" not in wrong.headers
    throttled = await c.post("/api/v1/sessions", json={"username": "anna", "password": "nope"},
                             headers={"Authorization": ""})
    assert (throttled.status_code, throttled.json()["code"]) == (429, "login_throttled")
    assert int(throttled.headers["Retry-After"]) > 0
