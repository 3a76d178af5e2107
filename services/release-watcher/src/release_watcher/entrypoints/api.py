"""HTTP routes under ``/watcher/v1``: verified packages (Range/206) and what is known per site.

A refusal answers ``{"detail": …, "code": …}``; ``STATUS`` is the one table from its code to
the HTTP status.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, Response

from lockstep_shared.artifacts import ArtifactStore
from release_watcher.domain.sites import SiteState

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SITE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

STATUS = {
    "invalid_sha256": 422,
    "package_not_here": 404,
    "invalid_site_id": 422,
    "unknown_site": 404,
}

SiteView = Callable[[str], Awaitable[SiteState | None]]


def refused(code: str, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=STATUS[code])


def build_router(store: ArtifactStore, site_view: SiteView) -> APIRouter:
    router = APIRouter(prefix="/watcher/v1", tags=["release-watcher"])

    @router.get("/artifacts/{sha256}", response_class=FileResponse, response_model=None)
    async def get_artifact(sha256: str) -> Response:
        """A verified package by its sha256; ``Range`` requests get 206 (resumable)."""
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
    async def get_site_releases(site_id: str) -> dict[str, Any] | Response:
        """The site's installed products, the next release of each and its download state."""
        if not _SITE_ID.match(site_id):
            return refused("invalid_site_id", f"{site_id!r} is not a valid site id")
        state = await site_view(site_id)
        if state is None:
            return refused("unknown_site", f"site {site_id} is not known to the release-watcher")
        return asdict(state)

    return router
