"""A simulated device survives whatever the gateway (or its own code) throws at it: a 5xx in the
middle of a streamed download, an answer it cannot read, an unexpected exception. Each is a
device error it counts and shows (``errors``, ``last_error``), then retries with backoff —
never a silently ended device task. The gateway is an httpx ``MockTransport`` whose bodies are
real streams (unread until the client reads them), as on the network."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from lockstep_tools.simulator import gateway_api as api
from lockstep_tools.simulator.device import SimulatedDevice
from lockstep_tools.simulator.device_state import (
    DeviceState,
    Directive,
    Download,
    Outcome,
    Phase,
)

OLD, NEW = "03.01.00_030", "03.01.00_031"
PAYLOAD = bytes(range(256)) * 1024  # 256 KiB
HALF = len(PAYLOAD) // 2  # more than one chunk the device reads (64 KiB)
SHA = hashlib.sha256(PAYLOAD).hexdigest()
DIRECTIVE = Directive("u1", NEW, len(PAYLOAD), SHA, "/device/v1/package")
UNAVAILABLE = b'{"detail": "the gateway is restarting", "code": "unavailable"}'


class Body(httpx.AsyncByteStream):
    """A response body streamed in chunks; ``cut_after`` chunks, the connection drops."""

    def __init__(self, *chunks: bytes, cut_after: int | None = None) -> None:
        self.chunks = chunks
        self.cut_after = cut_after

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for index, chunk in enumerate(self.chunks):
            if self.cut_after is not None and index == self.cut_after:
                raise httpx.ReadError("connection reset by peer")
            yield chunk


def streamed(status: int, *chunks: bytes, headers: dict[str, str] | None = None,
             cut_after: int | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, stream=Body(*chunks, cut_after=cut_after))


def unavailable() -> httpx.Response:
    return streamed(503, UNAVAILABLE, headers={"content-type": "application/json"})


def package_part(request: httpx.Request) -> httpx.Response:
    """The package as the gateway serves it: 206 from a ``Range: bytes=N-``, else 200."""
    wanted = request.headers.get("Range")
    start = int(wanted.removeprefix("bytes=").rstrip("-")) if wanted else 0
    return streamed(206 if wanted else 200, PAYLOAD[start:], headers={"ETag": f'"{SHA}"'})


def client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://gateway")


def device(http: httpx.AsyncClient, phase: Phase = Phase.WORKING) -> SimulatedDevice:
    state = DeviceState("SIM000001", OLD, 0)
    state.registered(site_version=OLD)
    state.phase = phase
    return SimulatedDevice(state, http, "token", action_limit=asyncio.Semaphore(4),
                           download_limit=asyncio.Semaphore(4), wait_s=0)


async def test_a_503_mid_download_is_read_and_the_download_resumes() -> None:
    answers: list[int] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        if not answers:  # the first response drops half-way through the body
            response = streamed(200, PAYLOAD[:HALF], PAYLOAD[HALF:], cut_after=1,
                                headers={"ETag": f'"{SHA}"'})
        elif len(answers) == 1:  # the resume meets a gateway that is restarting
            response = unavailable()
        else:
            response = package_part(request)
        answers.append(response.status_code)
        return response

    async with client(gateway) as http:
        resumes = await api.download(http, "token", DIRECTIVE, interrupt_once=False)
    assert answers == [200, 503, 206]
    assert resumes == 2


async def test_a_gateway_failing_every_download_is_reported_by_a_device_that_lives_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(api, "TRANSIENT_ATTEMPTS", 2)
    monkeypatch.setattr(api, "DOWNLOAD_PATIENCE_S", 1.0)  # a download gives up after 1 s of cuts
    async with client(lambda request: unavailable()) as http:
        simulated = device(http, Phase.DOWNLOADING)
        await simulated.perform([Download(DIRECTIVE)])
    state = simulated.state
    assert state.phase == Phase.FAILED and state.outcome == Outcome.DOWNLOAD_FAILED
    assert state.errors == 1
    assert state.last_error is not None
    assert "HTTP 503: the gateway is restarting" in state.last_error


async def test_an_unexpected_exception_is_a_device_error_and_the_device_tries_again() -> None:
    calls: list[str] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/device/v1/package":
            if calls.count("/device/v1/package") == 1:
                raise RuntimeError("something nobody expected")
            return package_part(request)
        if request.url.path == "/device/v1/update":
            return httpx.Response(200, json={
                "update_id": "u1", "version": NEW, "size": len(PAYLOAD), "sha256": SHA,
                "url": "/device/v1/package", "reason": "update"})
        return httpx.Response(204)

    async with client(gateway) as http:
        simulated = device(http, Phase.DOWNLOADING)
        await simulated.perform([Download(DIRECTIVE)])
    state = simulated.state
    assert calls == ["/device/v1/package", "/device/v1/update", "/device/v1/package",
                     "/device/v1/version"]
    assert state.errors == 1
    assert state.last_error == "Download: unexpected RuntimeError: something nobody expected"
    assert state.app_version == NEW and state.outcome == Outcome.UPDATED
    assert state.phase == Phase.WORKING


async def test_a_long_poll_answer_it_cannot_read_does_not_end_the_device() -> None:
    polls: list[int] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/device/v1/notifications":
            polls.append(1)
            if len(polls) == 1:
                return httpx.Response(200, content=b"<html>proxy error</html>")
            return httpx.Response(403, json={"detail": "device disabled", "code": "disabled"})
        return httpx.Response(204)

    async with client(gateway) as http:
        simulated = device(http)
        await asyncio.wait_for(simulated.run(), 10)
    state = simulated.state
    assert len(polls) == 2
    assert state.phase == Phase.DISABLED
    assert state.errors == 2  # the unreadable answer, then being disabled
    assert state.last_error == "disabled: HTTP 403: device disabled"
