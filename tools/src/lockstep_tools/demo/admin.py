"""A small client of the orchestrator's admin API, as the demo (and a script) uses it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx


class AdminError(Exception):
    """The admin API refused a step; the message carries its answer."""


async def login(base_url: str, username: str, password: str) -> str:
    """A bearer token for the account (``POST /api/v1/sessions``)."""
    async with httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=30) as http:
        response = await http.post("/api/v1/sessions",
                                   json={"username": username, "password": password})
    if response.status_code != 201:
        raise AdminError(f"login as {username} → {response.status_code}: {response.text}")
    return str(response.json()["token"])


class AdminClient:
    def __init__(self, base_url: str, *, token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.AsyncClient(base_url=base_url.rstrip("/") + "/api/v1", timeout=30,
                                      headers=headers)

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = (
            200, 201, 202, 204)) -> Any:
        response = await self.http.request(method, path, json=body)
        if response.status_code not in ok:
            raise AdminError(f"{method} {path} → {response.status_code}: {response.text}")
        return response.json() if response.content else None

    async def create_site(self, **site: Any) -> Any:
        return await self.call("POST", "/sites", site)

    async def banner(self, site_id: str) -> Any:
        return await self.call("GET", f"/sites/{site_id}/banner")

    async def devices(self, site_id: str, filter: str = "all") -> Any:
        return await self.call("GET", f"/sites/{site_id}/devices?filter={filter}")

    async def open_update(self, site_id: str, product: str) -> Any:
        return await self.call("POST", f"/sites/{site_id}/updates",
                               {"product": product, "backups_confirmed": True})

    async def update(self, update_id: str) -> Any:
        return await self.call("GET", f"/updates/{update_id}")

    async def send_start(self, update_id: str, serials: list[str] | None = None) -> Any:
        return await self.call("POST", f"/updates/{update_id}/start-notifications",
                               {"serials": serials})

    async def start_server_update(self, update_id: str) -> Any:
        return await self.call("POST", f"/updates/{update_id}/server-update", {})

    async def send_end(self, update_id: str, serials: list[str] | None = None) -> Any:
        return await self.call("POST", f"/updates/{update_id}/end-notifications",
                               {"serials": serials})

    async def conclude(self, update_id: str, *, confirm_not_updated: bool = False) -> Any:
        return await self.call("POST", f"/updates/{update_id}/conclusion",
                               {"confirm_not_updated": confirm_not_updated})

    async def wait_for(
        self,
        what: str,
        fetch: Callable[[], Any],
        done: Callable[[Any], bool],
        *,
        timeout: float,
        interval: float = 0.25,
    ) -> Any:
        """Poll ``fetch`` until ``done`` holds; a clear TimeoutError with the last answer.
        ``fetch`` only reads: a connection lost on the way (the server closed an idle
        keep-alive connection as the request left, on a busy machine) is polled again."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            try:
                last = await fetch()
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(interval)
                continue
            if done(last):
                return last
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not reached within {timeout:.0f}s; last: {last}")
            await asyncio.sleep(interval)
