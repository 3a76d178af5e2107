"""Handlers for sites (X9) and release checks (R3)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from lockstep_shared.catalogue import ReleaseCheckRequested
from lockstep_shared.unit_of_work import UnitOfWork
from orchestrator.adapters.repositories import Repositories
from orchestrator.domain.accounts import Account
from orchestrator.domain.model import InvalidCommand
from orchestrator.domain.sites import Site, enrolment_uri, valid_time_zone
from orchestrator.service_layer.audit import AuditLog
from orchestrator.service_layer.errors import AlreadyExists, NotFound
from orchestrator.service_layer.updates import site_configured


def enrolment_hash(code: str) -> str:
    """Only the hash of the enrolment code travels (devices prove they know the code)."""
    return hashlib.sha256(code.encode()).hexdigest()


class SiteHandlers:
    def __init__(self, uow: UnitOfWork, repos: Repositories, audit: AuditLog, *,
                 clock: Callable[[], datetime], default_check_interval_s: int) -> None:
        self.uow = uow
        self.repos = repos
        self.audit = audit
        self.clock = clock
        self.default_check_interval_s = default_check_interval_s  # R3, of a new site

    async def create(self, site_id: str, name: str, license_key: str, enrolment_code: str,
                     products: dict[str, str], check_interval_s: int | None,
                     actor: Account, time_zone: str = "UTC") -> Site:
        if not valid_time_zone(time_zone):
            raise InvalidCommand(f"unknown time zone {time_zone!r}: an IANA name such as "
                                 "Europe/Rome or UTC", reason="unknown_time_zone",
                                 time_zone=time_zone)
        site = Site(site_id=site_id, name=name, license_key=license_key,
                    enrolment_code_sha256=enrolment_hash(enrolment_code),
                    check_interval_s=check_interval_s or self.default_check_interval_s,
                    products=products, time_zone=time_zone)
        try:
            async with self.uow.begin() as tx:
                if await self.repos.sites.exists(tx.conn, site_id):
                    raise AlreadyExists(f"site {site_id!r} exists already",
                                        reason="site_exists", site=site_id)
                await self.repos.sites.add(tx.conn, site, self.clock())
                tx.emit(site_configured(site))
                await self.audit.record(tx, actor, "site.created", site_id=site_id, name=name,
                                        products=products)
        except IntegrityError:
            raise AlreadyExists(f"site {site_id!r} exists already", reason="site_exists",
                                site=site_id) from None
        return site

    async def set_time_zone(self, site_id: str, time_zone: str, actor: Account) -> None:
        """The console shows the site's dates and times in this zone (audited)."""
        if not valid_time_zone(time_zone):
            raise InvalidCommand(f"unknown time zone {time_zone!r}: an IANA name such as "
                                 "Europe/Rome or UTC", reason="unknown_time_zone",
                                 time_zone=time_zone)
        async with self.uow.begin() as tx:
            if not await self.repos.sites.set_time_zone(tx.conn, site_id, time_zone):
                raise NotFound(f"unknown site {site_id!r}")
            await self.audit.record(tx, actor, "site.time_zone", site_id=site_id,
                                    time_zone=time_zone)

    async def enrolment_uri(self, site_id: str, gateway_url: str, enrolment_code: str) -> str:
        """What the site's enrolment QR code holds; refused unless ``enrolment_code`` is the
        site's (only its hash is kept: a sheet never carries a wrong code)."""
        async with self.uow.engine.connect() as conn:
            site = await self.repos.sites.get(conn, site_id)
        if site is None:
            raise NotFound(f"unknown site {site_id!r}")
        if not hmac.compare_digest(enrolment_hash(enrolment_code), site.enrolment_code_sha256):
            raise InvalidCommand(f"this is not the enrolment code of site {site_id}: print the "
                                 "sheet with the code the site was created with",
                                 reason="not_the_enrolment_code", site=site_id)
        return enrolment_uri(gateway_url, site_id, enrolment_code)

    async def request_release_check(self, site_id: str, actor: Account) -> None:
        async with self.uow.begin() as tx:
            if not await self.repos.sites.exists(tx.conn, site_id):
                raise NotFound(f"unknown site {site_id!r}")
            tx.emit(ReleaseCheckRequested(site_id=site_id, requested_by=actor.username))
            await self.audit.record(tx, actor, "site.release_check", site_id=site_id)
