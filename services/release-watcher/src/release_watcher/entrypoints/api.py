"""HTTP routes under ``/watcher/v1``: verified packages (Range/206) and what is known per site."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from lockstep_shared.artifacts import ArtifactStore
from release_watcher.domain.sites import SiteState

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SITE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

SiteView = Callable[[str], Awaitable[SiteState | None]]


def build_router(store: ArtifactStore, site_view: SiteView) -> APIRouter:
    router = APIRouter(prefix="/watcher/v1", tags=["release-watcher"])

    @router.get("/artifacts/{sha256}", response_class=FileResponse)
    async def get_artifact(sha256: str) -> FileResponse:
        """A verified package by its sha256; ``Range`` requests get 206 (resumable)."""
        if not _SHA256.match(sha256):
            raise HTTPException(422, f"{sha256!r} is not a lowercase hex sha256 digest")
        path = store.path_for(sha256)
        if not path.is_file():
            raise HTTPException(404, f"no verified package with sha256 {sha256} here")
        return FileResponse(
            path,
            media_type="application/octet-stream",
            headers={"ETag": f'"{sha256}"', "Cache-Control": "public, max-age=31536000, immutable"},
        )

    @router.get("/sites/{site_id}/releases")
    async def get_site_releases(site_id: str) -> dict[str, Any]:
        """The site's installed products, the next release of each and its download state."""
        if not _SITE_ID.match(site_id):
            raise HTTPException(422, f"{site_id!r} is not a valid site id")
        state = await site_view(site_id)
        if state is None:
            raise HTTPException(404, f"site {site_id} is not known to the release-watcher")
        return asdict(state)

    return router
