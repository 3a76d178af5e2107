"""One request cannot stall the gateway: request bodies are bounded while they stream in
(413 ``body_too_large`` before anything parses them), and a request that does not validate gets
a short 422 ``invalid_request`` that never echoes the input."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from .conftest import GatewayMaker

pytestmark = [pytest.mark.integration,
              pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

REGISTRATIONS = "/device/v1/registrations"


def huge_body() -> bytes:
    """About 5 MB of JSON: 300,000 unknown keys (no login is needed to send it)."""
    body = {"site_id": "shop-1", "enrolment_code": "x", "serial": "SN1", "model": "TC52",
            "app_version": "1.0", **{f"k{i:06d}": "v" for i in range(300_000)}}
    return json.dumps(body).encode()


async def healthz_latencies(client: httpx.AsyncClient, done: asyncio.Event) -> list[float]:
    latencies = []
    while not done.is_set():
        started = time.perf_counter()
        answer = await client.get("/healthz")
        latencies.append(time.perf_counter() - started)
        assert answer.status_code == 200
        await asyncio.sleep(0.02)
    return latencies


async def in_chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
async def test_an_oversized_body_is_refused_quickly_and_healthz_keeps_answering(
        start_gateway: GatewayMaker, streamed: bool) -> None:
    gateway = await start_gateway()
    body = huge_body()
    assert len(body) > 4_000_000
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=60) as attacker, \
            httpx.AsyncClient(base_url=gateway.base_url, timeout=60) as probe:
        await probe.get("/healthz")  # connected before the attack
        done = asyncio.Event()
        watching = asyncio.create_task(healthz_latencies(probe, done))
        started = time.perf_counter()
        try:
            answer = await attacker.post(
                REGISTRATIONS, content=in_chunks(body) if streamed else body,
                headers={"Content-Type": "application/json"})
        except httpx.HTTPError:  # the server may close before the client sent everything
            answer = None
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0.2)
        done.set()
        latencies = await watching
    assert elapsed < 2.0, f"the oversized body took {elapsed:.1f} s to refuse"
    if answer is not None:
        assert answer.status_code == 413, answer.text[:200]
        assert answer.json()["code"] == "body_too_large"
        assert len(answer.content) < 200
    assert max(latencies) < 0.1, f"/healthz took {max(latencies) * 1000:.0f} ms"


async def test_the_limit_answers_413_with_a_code(start_gateway: GatewayMaker) -> None:
    gateway = await start_gateway()
    answer = await gateway.client.post(REGISTRATIONS, content=b"{" + b" " * 5000 + b"}",
                                       headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    assert answer.json() == {"detail": "request body too large: at most 4096 bytes here",
                             "code": "body_too_large"}


async def test_a_422_lists_a_few_problems_and_echoes_nothing(
        start_gateway: GatewayMaker) -> None:
    gateway = await start_gateway()
    many_keys = {f"unknown-{'x' * 30}-{i}": "y" * 20 for i in range(50)}
    assert len(json.dumps(many_keys)) < 4096
    answer = await gateway.client.post(REGISTRATIONS, json=many_keys)
    assert answer.status_code == 422
    body = answer.json()
    assert body["code"] == "invalid_request"
    assert len(answer.content) < 600, answer.text
    assert "more" in body["detail"] and "y" * 20 not in answer.text


@pytest.mark.parametrize("field,value", [("app_version", "1" * 1000),
                                         ("app_version", "1." * 40 + "1"),
                                         ("records", 2**70),
                                         ("records", 2**31)])
async def test_out_of_bounds_values_get_a_short_422(
        start_gateway: GatewayMaker, field: str, value: object) -> None:
    gateway = await start_gateway()
    await gateway.configure_site()
    device = await gateway.register("SN-BOUNDS")
    path = "/device/v1/version" if field == "app_version" else "/device/v1/sync"
    answer = await gateway.client.post(path, json={field: value}, headers=gateway.auth(device))
    assert answer.status_code == 422, answer.text[:300]
    assert answer.json()["code"] == "invalid_request"
    assert len(answer.content) < 300 and "4300" not in answer.text


async def test_records_up_to_the_bound_are_accepted(start_gateway: GatewayMaker) -> None:
    gateway = await start_gateway()
    await gateway.configure_site()
    device = await gateway.register("SN-MAX")
    answer = await gateway.client.post("/device/v1/sync", json={"records": 2147483647},
                                       headers=gateway.auth(device))
    assert answer.status_code == 200, answer.text
