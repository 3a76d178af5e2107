"""The orchestrator's calls to the gateway's internal API put every value in its own path
segment, percent-encoded: an id with ``?``, ``#``, ``/`` or a control character cannot change
which URL is called (it was interpolated as it came, and control characters were a 500)."""

from __future__ import annotations

import httpx
import pytest

from orchestrator.adapters.http_clients import GatewayCodes


@pytest.mark.parametrize("exchange_id", ["ex?x=1", "ex#frag", "ex/../../x", "ex\x00\x1f\n",
                                         "ex id"])
async def test_an_exchange_id_stays_one_path_segment(exchange_id: str) -> None:
    seen: list[httpx.URL] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, json={"verified": True, "blocked": True})

    codes = GatewayCodes("http://gateway", "s3cret", transport=httpx.MockTransport(gateway))
    answer = await codes.confirm("shop-1", "SN1", exchange_id, "123456")
    assert answer.accepted
    [url] = seen
    assert url.query == b"" and url.fragment == ""
    raw = url.raw_path.decode()
    assert raw.startswith("/internal/v1/sites/shop-1/devices/SN1/codes/")
    assert raw.endswith("/confirmation") and raw.count("/") == 9
    assert all(ord(c) > 32 for c in raw)
