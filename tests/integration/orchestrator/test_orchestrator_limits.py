"""The admin API bounds what it reads: a body per route (413 ``body_too_large``), every string
and list of a request, and answers a request that does not validate in the one error shape
``{"detail", "code": "invalid_request"}``, short, never echoing the input."""

from __future__ import annotations

import pytest

from .conftest import SITE_BODY, Harness

pytestmark = pytest.mark.integration


async def test_a_body_over_the_route_limit_is_413(harness: Harness) -> None:
    big = {"username": "u", "password": "p" * 9000}
    answer = await harness.client.post("/api/v1/sessions", json=big)
    assert answer.status_code == 413
    assert answer.json()["code"] == "body_too_large"


async def test_a_site_may_be_larger_than_other_bodies_but_bounded(harness: Harness) -> None:
    products = [{"product": f"p{i}", "version": "1.0"} for i in range(100)]
    answer = await harness.client.post("/api/v1/sites", json={**SITE_BODY, "products": products})
    assert answer.status_code == 201, answer.text
    too_many = [{"product": f"p{i}", "version": "1.0"} for i in range(101)]
    answer = await harness.client.post("/api/v1/sites",
                                       json={**SITE_BODY, "site_id": "shop-2",
                                             "products": too_many})
    assert (answer.status_code, answer.json()["code"]) == (422, "invalid_request")
    huge = [{"product": f"p{i}", "version": "1.0"} for i in range(5000)]
    answer = await harness.client.post("/api/v1/sites", json={**SITE_BODY, "products": huge})
    assert (answer.status_code, answer.json()["code"]) == (413, "body_too_large")


async def test_a_422_is_short_and_in_the_one_error_shape(harness: Harness) -> None:
    version = "1" * 1000
    answer = await harness.client.post("/api/v1/sites", json={
        **SITE_BODY, "products": [{"product": "shop", "version": version}],
        "unknown": "z" * 500, "other": 1, "more": 2})
    assert answer.status_code == 422
    body = answer.json()
    assert set(body) == {"detail", "code"} and body["code"] == "invalid_request"
    assert len(answer.content) < 600 and version not in answer.text and "zzz" not in answer.text


@pytest.mark.parametrize("path", [
    "/api/v1/sites/shop-1/devices/not%20a%20serial%21/disable",
    "/api/v1/sites/shop-1/devices/" + "S" * 65 + "/disable",
    "/api/v1/sites/NOT_A_SITE/devices/SN1/disable",
])
async def test_a_path_that_cannot_name_a_device_is_422_not_500(harness: Harness,
                                                              path: str) -> None:
    await harness.client.post("/api/v1/sites", json=SITE_BODY)
    answer = await harness.client.post(path, json={"confirm": True, "confirm_again": True})
    assert (answer.status_code, answer.json()["code"]) == (422, "invalid_request")



@pytest.mark.parametrize("exchange_id", ["ex%0A%00", "ex%3Fx%3D1", "ex%23f", "x" * 65])
async def test_an_exchange_id_that_is_not_an_id_is_422(harness: Harness,
                                                       exchange_id: str) -> None:
    await harness.client.post("/api/v1/sites", json=SITE_BODY)
    answer = await harness.client.post(
        f"/api/v1/sites/shop-1/devices/SN1/codes/{exchange_id}/confirmation",
        json={"code3": "123456"})
    assert (answer.status_code, answer.json()["code"]) == (422, "invalid_request")
