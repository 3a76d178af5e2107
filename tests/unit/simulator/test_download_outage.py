"""A simulated device keeps resuming a cut download through a gateway outage, as the device
protocol says (a cut connection is transient: retried with backoff 0.5 s doubling to 30 s for
as long as the device is updating), and gives up only after a long outage."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from lockstep_tools.simulator import gateway_api as api
from lockstep_tools.simulator.device_messages import Directive

PACKAGE = b"x" * 1000


def directive() -> Directive:
    return Directive(update_id="u1", version="2", size=len(PACKAGE),
                     sha256=hashlib.sha256(PACKAGE).hexdigest(), url="/device/v1/package")


def gateway_down_for(requests: int) -> httpx.MockTransport:
    """Refuses the first ``requests`` connections (a restarting gateway), then serves."""
    seen = {"n": 0}

    def handle(request: httpx.Request) -> httpx.Response:
        seen["n"] += 1
        if seen["n"] <= requests:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, stream=httpx.ByteStream(PACKAGE),
                              headers={"ETag": '"etag"', "Content-Length": str(len(PACKAGE))})

    return httpx.MockTransport(handle)


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(api.asyncio, "sleep", sleep)
    return slept


async def test_a_download_survives_a_gateway_down_for_a_minute(waits: list[float]) -> None:
    async with httpx.AsyncClient(transport=gateway_down_for(9),
                                 base_url="http://gateway") as client:
        await api.download(client, "token", directive(), interrupt_once=False)
    assert waits[:4] == [0.5, 1.0, 2.0, 4.0]
    assert max(waits) <= 30 and sum(waits) > 60


async def test_a_download_gives_up_after_a_long_outage(waits: list[float]) -> None:
    async with httpx.AsyncClient(transport=gateway_down_for(10_000),
                                 base_url="http://gateway") as client:
        with pytest.raises(api.DownloadProblem, match="gave up"):
            await api.download(client, "token", directive(), interrupt_once=False)
    assert sum(waits) >= api.DOWNLOAD_PATIENCE_S
