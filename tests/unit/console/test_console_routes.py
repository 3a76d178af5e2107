"""The console's routes without a database: ``/`` leads to the console, the static files are
served from the package, and the stream refuses a missing, unknown or foreign token before
anything is streamed."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from orchestrator.domain.accounts import Account, Role, Unauthenticated
from orchestrator.entrypoints.console import CONSOLE_DIR, console_router
from orchestrator.service_layer.errors import NotFound
from orchestrator.service_layer.site_stream import SiteStreamHub, site_reader


class Views:
    """Hand-written read models: one known site."""

    async def banner(self, site_id: str) -> Any:
        if site_id != "shop-1":
            raise NotFound(f"unknown site {site_id!r}")
        return {"state": "none"}


class Tickets:
    """Hand-written stream tickets: one per session (the real ones: integration tests)."""

    sessions = {"k-admin": "h-admin", "k-other": "h-other"}
    accounts = {"h-admin": Account("alice", Role.ADMIN, ("shop-1",)),
                "h-other": Account("olga", Role.ADMIN, ("shop-2",))}

    async def redeem(self, ticket: str, site_id: str) -> str:
        if ticket not in self.sessions:
            raise Unauthenticated("the stream ticket is unknown or expired")
        return self.sessions[ticket]

    async def account(self, session: str) -> Account:
        return self.accounts[session]


class Guard:
    def anyone(self) -> Any:
        async def nobody() -> Account:
            raise Unauthenticated("not in these tests")
        return nobody


def client() -> httpx.AsyncClient:
    app = FastAPI()
    views = Views()
    hub = SiteStreamHub(site_reader(views))
    app.include_router(console_router(views, Tickets(), hub, Guard()))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_the_root_leads_to_the_console() -> None:
    async with client() as http:
        for path in ("/", "/console"):
            answer = await http.get(path)
            assert answer.status_code in (307, 308)
            assert answer.headers["location"].endswith("/console/")


async def test_the_static_files_ship_inside_the_package() -> None:
    assert (CONSOLE_DIR / "index.html").is_file()
    async with client() as http:
        page = await http.get("/console/")
        assert page.status_code == 200
        assert "<title>Lockstep console</title>" in page.text
        module = await http.get("/console/js/main.js")
        assert module.status_code == 200
        assert "javascript" in module.headers["content-type"]
        catalogue = await http.get("/console/i18n/ru.json")
        assert catalogue.json()["top.logout"] == "Выйти"
        assert (await http.get("/console/../bootstrap.py")).status_code == 404


async def test_the_stream_refuses_bad_tickets_before_streaming() -> None:
    async with client() as http:
        assert (await http.get("/api/v1/sites/shop-1/stream")).status_code == 422
        unknown = await http.get("/api/v1/sites/shop-1/stream", params={"ticket": "nope"})
        assert unknown.status_code == 401
        foreign = await http.get("/api/v1/sites/shop-1/stream", params={"ticket": "k-other"})
        assert foreign.status_code == 403
        assert "olga" in foreign.json()["detail"]
        missing = await http.get("/api/v1/sites/shop-9/stream", params={"ticket": "k-admin"})
        assert missing.status_code == 403  # alice is not admin of shop-9: no existence leak


async def test_the_console_answers_with_security_headers() -> None:
    async with client() as http:
        for path in ("/console/", "/console/js/main.js", "/console/i18n/en.json", "/"):
            answer = await http.get(path)
            csp = answer.headers.get("content-security-policy", "")
            assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
            assert "'unsafe-inline'" not in csp
            assert answer.headers.get("x-content-type-options") == "nosniff", path
            assert answer.headers.get("referrer-policy") == "no-referrer", path
            assert answer.headers.get("x-frame-options") == "DENY", path
