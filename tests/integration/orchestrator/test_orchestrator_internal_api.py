"""The orchestrator's internal API (issue 10): the record of one update of a site, for the
installer agents, only to a caller presenting the internal token."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import SITE_BODY, Harness, downloaded

pytestmark = pytest.mark.integration

TOKEN = "the-internal-token"
PATH = "/internal/v1/sites/shop-1/updates/{}"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"internal_token": TOKEN}


@pytest.fixture(params=["postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("pg_database"))


async def test_an_agent_reads_the_record_of_its_sites_update_with_the_token(
        harness: Harness) -> None:
    h = harness
    assert (await h.client.post("/api/v1/sites", json=SITE_BODY)).status_code == 201
    release = downloaded()
    target = "packages/shop/03.01.00_031/shop.tar.gz"
    await h.deliver(h.watcher, release.model_copy(update={
        "package": release.package.model_copy(update={"target": target})}))
    opened = await h.client.post("/api/v1/sites/shop-1/updates",
                                 json={"product": "shop", "backups_confirmed": True})
    update_id = opened.json()["update_id"]
    internal = {"Authorization": "", "X-Lockstep-Internal": TOKEN}

    record = await h.client.get(PATH.format(update_id), headers=internal)
    assert record.status_code == 200, record.text
    assert record.json()["state"] == "open"
    assert record.json()["package"]["sha256"] == "e" * 64
    # the TUF target travels from the watcher's release to the update (devices are told it)
    assert record.json()["package"]["target"] == target
    [opened_event] = [e for e in await h.outbox() if e.type == "lockstep.update.opened"]
    assert opened_event.data.package.target == target  # type: ignore[union-attr]
    await h.client.post(f"/api/v1/updates/{update_id}/server-update", json={})
    record = await h.client.get(PATH.format(update_id), headers=internal)
    assert record.json()["state"] == "server_updating"

    unknown = await h.client.get(PATH.format("u-forged"), headers=internal)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    other_site = await h.client.get(f"/internal/v1/sites/shop-2/updates/{update_id}",
                                    headers=internal)
    assert other_site.status_code == 404

    missing = await h.client.get(PATH.format(update_id))  # an admin's session is not enough
    assert (missing.status_code, missing.json()["code"]) == (401, "internal_token_missing")
    wrong = await h.client.get(PATH.format(update_id),
                               headers={"X-Lockstep-Internal": "guess"})
    assert (wrong.status_code, wrong.json()["code"]) == (403, "internal_token_wrong")
