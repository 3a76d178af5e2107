"""HTTP routes under ``/watcher/v1``: verified packages (Range/206) and what is known per site.

Internal: for Lockstep's own services only (the gateway and the agents fetch packages here),
never for devices or browsers. Every request carries the internal token in
``X-Lockstep-Internal``; with no token configured the routes answer 503.

A refusal answers ``{"detail": …, "code": …}``; ``STATUS`` is the one table from its code to
the HTTP status.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import FileResponse, JSONResponse, Response

from lockstep_shared.artifacts import ArtifactStore
from lockstep_shared.settings import INTERNAL_HEADER, internal_token_refusal
from release_watcher.domain.sites import SiteState

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SITE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

STATUS = {
    "invalid_sha256": 422,
    "package_not_here": 404,
    "invalid_site_id": 422,
    "unknown_site": 404,
    "internal_token_missing": 401,
    "internal_token_wrong": 403,
    "internal_api_disabled": 503,
}
REFUSED_CALLER = {
    "internal_token_missing": f"missing {INTERNAL_HEADER} header: internal route",
    "internal_token_wrong": f"wrong {INTERNAL_HEADER} token",
    "internal_api_disabled": "internal routes not configured: set LOCKSTEP_INTERNAL_TOKEN (the "
                             "same value in every service)",
}
Token = Annotated[str | None, Header(alias=INTERNAL_HEADER, max_length=200,
                                     description="the internal token (LOCKSTEP_INTERNAL_TOKEN)")]

SiteView = Callable[[str], Awaitable[SiteState | None]]


def refused(code: str, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=STATUS[code])


def watcher_router(store: ArtifactStore, site_view: SiteView, *,
                 internal_token: str) -> APIRouter:
    """``internal_token``: the secret every caller presents; '' = the routes answer 503."""
    router = APIRouter(prefix="/watcher/v1", tags=["release-watcher"], include_in_schema=False)

    def caller_refused(presented: str | None) -> JSONResponse | None:
        code = internal_token_refusal(internal_token, presented)
        return refused(code, REFUSED_CALLER[code]) if code else None

    @router.get("/artifacts/{sha256}", response_class=FileResponse, response_model=None)
    async def get_artifact(sha256: str, token: Token = None) -> Response:
        """A verified package by its sha256; ``Range`` requests get 206 (resumable)."""
        if (refusal := caller_refused(token)) is not None:
            return refusal
        if not _SHA256.match(sha256):
            return refused("invalid_sha256", f"{sha256!r} is not a lowercase hex sha256 digest")
        path = store.path_for(sha256)
        if not path.is_file():
            return refused("package_not_here", f"no verified package with sha256 {sha256} here")
        return FileResponse(
            path,
            media_type="application/octet-stream",
            headers={"ETag": f'"{sha256}"', "Cache-Control": "public, max-age=31536000, immutable"},
        )

    @router.get("/sites/{site_id}/releases", response_model=None)
    async def get_site_releases(site_id: str, token: Token = None) -> dict[str, Any] | Response:
        """The site's installed products, the next release of each and its download state."""
        if (refusal := caller_refused(token)) is not None:
            return refusal
        if not _SITE_ID.match(site_id):
            return refused("invalid_site_id", f"{site_id!r} is not a valid site id")
        state = await site_view(site_id)
        if state is None:
            return refused("unknown_site", f"site {site_id} is not known to the release-watcher")
        return asdict(state)

    return router
