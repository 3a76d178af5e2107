"""The demo's admin client polls through a lost connection (make bench on a busy machine)."""

from __future__ import annotations

import httpx
import pytest

from lockstep_tools.demo.admin import AdminClient


async def test_waiting_polls_again_after_the_server_dropped_the_connection() -> None:
    answers = iter([httpx.RemoteProtocolError("Server disconnected without sending a response."),
                    {"state": "notifying"}, {"state": "concluded"}])
    calls = 0

    async def fetch() -> object:
        nonlocal calls
        calls += 1
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    admin = AdminClient("http://127.0.0.1:9")
    try:
        last = await admin.wait_for("concluded", fetch, lambda u: u["state"] == "concluded",
                                    timeout=5, interval=0.01)
        assert last == {"state": "concluded"} and calls == 3
        with pytest.raises(httpx.ConnectError):  # past the deadline the failure is told
            await admin.wait_for("never", _refused, lambda u: False, timeout=0, interval=0.01)
    finally:
        await admin.close()


async def _refused() -> object:
    raise httpx.ConnectError("connection refused")
