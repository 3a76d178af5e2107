"""What the watcher knows about a site, read for the API (R3-R8)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from release_watcher.adapters import repository
from release_watcher.domain.sites import SiteState


class SiteViews:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def site(self, site_id: str) -> SiteState | None:
        """The site's products, the next release of each and its download state; None when
        the site is not configured here."""
        async with self.engine.connect() as conn:
            return await repository.site_state(conn, site_id)
