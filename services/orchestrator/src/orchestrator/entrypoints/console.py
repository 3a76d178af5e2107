"""The admin console in the browser (X7): static files under ``/console`` (plain HTML, CSS and
ES modules, no build step), ``/`` redirecting to it, and the live stream of a site
(``GET /api/v1/sites/{site_id}/stream``, server-sent events).

EventSource cannot set headers, so the stream takes ``?ticket=``: a stream ticket the console
asks for with its session (``POST /api/v1/sites/{site_id}/stream-tickets``), good for one site
for a minute, never the session token itself; any account that may read the site (N2).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.types import Scope

from lockstep_shared.http_limits import refusals
from orchestrator.domain import stream_tickets
from orchestrator.domain.accounts import Account, Permission, authorize
from orchestrator.domain.errors import Refused
from orchestrator.entrypoints.auth import Guard, bearer_token
from orchestrator.entrypoints.errors import AdminRoute
from orchestrator.entrypoints.params import SitePath
from orchestrator.service_layer.site_stream import SiteStreamHub
from orchestrator.service_layer.stream_tickets import StreamTicketHandlers
from orchestrator.service_layer.views import Views

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"
# Sent with every answer of the console's routes: its own files only, never in a frame, no
# sniffing, no referrer leaving the site.
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class ConsoleFiles(StaticFiles):
    """The console's static files, with ``SECURITY_HEADERS``."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


RETRY_MS = 3000
RECHECK_S = 60.0  # how often an open stream checks that its session is still valid


class TicketView(BaseModel):
    ticket: str = Field(description="for ``GET …/stream?ticket=``; opens this site's stream")
    expires_at: datetime


async def may_watch(tickets: StreamTicketHandlers, views: Views, site_id: str,
                    session: str) -> None:
    """Refused (401) unless the session still lasts, (403) unless its account may read the
    site, (404) for an unknown site."""
    account = await tickets.account(session)
    authorize(account, Permission.READ, site_id)
    await views.banner(site_id)


def console_router(views: Views, tickets: StreamTicketHandlers, hub: SiteStreamHub,
                   guard: Guard) -> APIRouter:
    """``hub`` is built (and closed on stop) by ``bootstrap.build``."""
    router = APIRouter(route_class=AdminRoute)
    reader_dep = Depends(guard.anyone())

    @router.post("/api/v1/sites/{site_id}/stream-tickets", tags=["console"], status_code=201,
                 response_model=TicketView, responses=refusals(401, 403, 404, 422))
    async def stream_ticket(site_id: SitePath, account: Account = reader_dep,
                            authorization: Annotated[str | None,
                                                     Header(include_in_schema=False)] = None,
                            ) -> TicketView:
        """A ticket for this site's live stream, valid a minute (the console asks for a new
        one each time it opens the stream)."""
        issued = tickets.issue(bearer_token(authorization), account, site_id)
        await views.banner(site_id)  # 404 for an unknown site
        return TicketView(ticket=issued.ticket, expires_at=issued.expires_at)

    @router.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console/", headers=SECURITY_HEADERS)

    @router.get("/console", include_in_schema=False)
    async def console_without_slash() -> RedirectResponse:
        return RedirectResponse("/console/", headers=SECURITY_HEADERS)

    @router.get("/api/v1/sites/{site_id}/stream", tags=["console"],
                response_class=StreamingResponse,
                responses={200: {"content": {"text/event-stream": {}}},
                           **refusals(401, 403, 404, 422)})
    async def site_stream(
        site_id: SitePath,
        ticket: Annotated[str, Query(min_length=1, max_length=stream_tickets.MAX_LENGTH,
                                     description="a stream ticket (POST …/stream-tickets): "
                                                 "EventSource sends no headers")],
    ) -> StreamingResponse:
        """Server-sent events: ``changed`` with the site's fingerprint, banner and update at
        once and whenever the banner, the update or the device grid changes; a comment line
        every 15 s of quiet. The console re-reads the grid on each ``changed``."""
        session = await tickets.redeem(ticket, site_id)
        await may_watch(tickets, views, site_id, session)

        async def events() -> AsyncIterator[str]:
            yield f"retry: {RETRY_MS}\n\n"
            checked = time.monotonic()
            async with contextlib.aclosing(hub.subscribe(site_id)) as changes:
                async for change in changes:
                    if time.monotonic() - checked > RECHECK_S:
                        try:  # a session that ended (logout, expiry) ends its stream too
                            await may_watch(tickets, views, site_id, session)
                        except Refused as refused:
                            yield f"event: ended\ndata: {json.dumps(refused.detail)}\n\n"
                            return
                        checked = time.monotonic()
                    if change is None:
                        yield ": keep-alive\n\n"
                    else:
                        yield f"event: changed\ndata: {change.as_json()}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no", **SECURITY_HEADERS})

    router.mount("/console", ConsoleFiles(directory=CONSOLE_DIR, html=True), name="console")
    return router
