"""Handlers for sites (X9) and release checks (R3)."""

from __future__ import annotations

import hashlib

from sqlalchemy.exc import IntegrityError

from lockstep_shared.catalogue import ReleaseCheckRequested
from orchestrator.domain.accounts import Account
from orchestrator.domain.sites import Site
from orchestrator.service_layer.context import Context
from orchestrator.service_layer.errors import AlreadyExists, NotFound
from orchestrator.service_layer.updates import site_configured


def enrolment_hash(code: str) -> str:
    """Only the hash of the enrolment code travels (devices prove they know the code)."""
    return hashlib.sha256(code.encode()).hexdigest()


class SiteHandlers:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def create(self, site_id: str, name: str, license_key: str, enrolment_code: str,
                     products: dict[str, str], check_interval_s: int | None,
                     actor: Account) -> Site:
        ctx = self.ctx
        site = Site(site_id=site_id, name=name, license_key=license_key,
                    enrolment_code_sha256=enrolment_hash(enrolment_code),
                    check_interval_s=check_interval_s or ctx.settings.default_check_interval_s,
                    products=products)
        try:
            async with ctx.engine.begin() as conn:
                if await ctx.sites.exists(conn, site_id):
                    raise AlreadyExists(f"site {site_id!r} exists already")
                await ctx.sites.add(conn, site, ctx.clock())
                await ctx.publish(conn, [site_configured(site)])
                await ctx.audit(conn, actor, "site.created", site_id=site_id, name=name,
                                products=products)
        except IntegrityError:
            raise AlreadyExists(f"site {site_id!r} exists already") from None
        ctx.outbox.committed()
        return site

    async def request_release_check(self, site_id: str, actor: Account) -> None:
        ctx = self.ctx
        async with ctx.engine.begin() as conn:
            if not await ctx.sites.exists(conn, site_id):
                raise NotFound(f"unknown site {site_id!r}")
            await ctx.publish(conn, [ReleaseCheckRequested(site_id=site_id,
                                                           requested_by=actor.username)])
            await ctx.audit(conn, actor, "site.release_check", site_id=site_id)
        ctx.outbox.committed()
