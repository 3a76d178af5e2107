"""Admin API (``/api/v1``, see admin-api.md): routes only parse and call a handler; a refusal
becomes its answer through the one table in ``entrypoints/errors.py``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from lockstep_shared.catalogue import Product, Serial, SiteId
from lockstep_shared.http_limits import json_int, refusals
from lockstep_shared.versions import VersionText
from orchestrator.adapters.qr_codes import qr_svg
from orchestrator.domain.accounts import Account, Permission
from orchestrator.domain.model import InvalidCommand
from orchestrator.entrypoints.auth import Guard
from orchestrator.entrypoints.errors import AdminRoute
from orchestrator.entrypoints.params import SitePath, UpdateIdPath
from orchestrator.service_layer.sites import SiteHandlers
from orchestrator.service_layer.updates import UpdateHandlers
from orchestrator.service_layer.views import (
    BannerView,
    GateView,
    GridView,
    SiteView,
    UpdateView,
    Views,
)

MAX_PRODUCTS = 100  # products of one site
MAX_SERIALS = 1000  # devices named in one request (larger fleets: null = every device)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProductBody(_Body):
    product: Product
    version: VersionText


class CreateSiteBody(_Body):
    site_id: SiteId
    name: str = Field(min_length=1, max_length=200)
    license_key: str = Field(min_length=1, max_length=200)
    enrolment_code: str = Field(min_length=1, max_length=200)
    products: list[ProductBody] = Field(min_length=1, max_length=MAX_PRODUCTS)
    check_interval_s: json_int(gt=0, le=366 * 86400) | None = None  # type: ignore[valid-type]
    time_zone: str = Field(default="UTC", min_length=1, max_length=64,
                           description="IANA name, e.g. Europe/Rome: the console shows the "
                           "site's dates and times in it")


class EnrolmentSheetBody(_Body):
    site_id: SiteId
    gateway_url: str = Field(min_length=1, max_length=500, pattern=r"^https?://[^\s]+$",
                             description="how the handhelds reach the device gateway")
    enrolment_code: str = Field(min_length=1, max_length=200)


class TimeZoneBody(_Body):
    time_zone: str = Field(min_length=1, max_length=64, description="IANA name, e.g. Europe/Rome")


class OpenUpdateBody(_Body):
    product: Product
    backups_confirmed: bool = Field(default=False, strict=True)


class NotificationsBody(_Body):
    serials: list[Serial] | None = Field(
        default=None, max_length=MAX_SERIALS,
        description="null = every enabled device; else only these (again)")


class ConclusionBody(_Body):
    confirm_not_updated: bool = Field(default=False, strict=True)


class RequestAccepted(BaseModel):
    request_id: str
    update_id: str


class CheckRequested(BaseModel):
    site_id: str
    status: Literal["requested"] = "requested"


class CodeBody(_Body):
    response: str = Field(min_length=1, max_length=64,
                          description="the vendor's response, ddddd-ddddd-ddddd")


class ForceApprovalBody(_Body):
    password: str | None = Field(
        default=None, max_length=1000,
        description="only on a site with one admin: re-entered to approve his own request")


def admin_router(sites: SiteHandlers, updates: UpdateHandlers, views: Views, guard: Guard,
                 password_matches: Callable[[Account, str], Awaitable[bool]]) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["admin"], route_class=AdminRoute,
                       responses=refusals(401, 403, 404, 409, 413, 422))
    anyone_dep = Depends(guard.anyone())
    site_creator_dep = Depends(guard.allowed(Permission.CREATE_SITE))
    site_reader_dep = Depends(guard.site(Permission.READ))
    site_admin_dep = Depends(guard.site(Permission.MANAGE))
    site_checker_dep = Depends(guard.site(Permission.CHECK))
    update_reader_dep = Depends(guard.update(Permission.READ))
    update_admin_dep = Depends(guard.update(Permission.MANAGE))
    support_dep = Depends(guard.update(Permission.RESOLVE))

    # --- sites ----------------------------------------------------------------------------

    @router.post("/sites", status_code=201, response_model=SiteView)
    async def create_site(body: CreateSiteBody, actor: Account = site_creator_dep) -> SiteView:
        """Create a site (support, or an admin of every site); publishes ``SiteConfigured``
        (enrolment code only as its sha256)."""
        await sites.create(body.site_id, body.name, body.license_key, body.enrolment_code,
                           {p.product: p.version for p in body.products},
                           body.check_interval_s, actor, body.time_zone)
        return await views.site(body.site_id)

    @router.post("/enrolment-qr-codes", response_class=Response,
                 responses={200: {"content": {"image/svg+xml": {}}}})
    async def enrolment_qr_code(body: EnrolmentSheetBody,
                                _: Account = site_creator_dep) -> Response:
        """The QR code of a site's printable enrolment sheet (SVG): gateway, site and
        enrolment code for the handhelds to scan. Only with the site's own code (it is checked
        against its hash); never stored, never cached."""
        text = await sites.enrolment_uri(body.site_id, body.gateway_url, body.enrolment_code)
        svg = qr_svg(text, title=f"enrolment QR code of site {body.site_id}")
        return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    @router.put("/sites/{site_id}/time-zone", response_model=SiteView)
    async def set_time_zone(site_id: SitePath, body: TimeZoneBody,
                            actor: Account = site_admin_dep) -> SiteView:
        """The site's time zone (its admin): dates and times in the console (audited)."""
        await sites.set_time_zone(site_id, body.time_zone, actor)
        return await views.site(site_id)

    @router.get("/sites", response_model=list[SiteView])
    async def list_sites(viewer: Account = anyone_dep) -> list[SiteView]:
        """The sites the account may see."""
        return await views.sites(viewer)

    @router.get("/sites/{site_id}", response_model=SiteView)
    async def get_site(site_id: SitePath, _: Account = site_reader_dep) -> SiteView:
        """With the update subscription status (R4)."""
        return await views.site(site_id)

    @router.get("/sites/{site_id}/banner", response_model=BannerView)
    async def get_banner(site_id: SitePath, _: Account = site_reader_dep) -> BannerView:
        """N1: what every user of the site sees."""
        return await views.banner(site_id)

    @router.get("/sites/{site_id}/gate", response_model=GateView)
    async def get_gate(site_id: SitePath, _: Account = site_reader_dep) -> GateView:
        """N3: the desktop application asks at start; closed while the server is updated."""
        return await views.gate(site_id)

    @router.post("/sites/{site_id}/release-checks", status_code=202,
                 response_model=CheckRequested)
    async def check_now(site_id: SitePath, actor: Account = site_checker_dep
                        ) -> CheckRequested:
        """R3 "check now" (a site admin, or vendor support after entitling the site's
        licence): publishes ``ReleaseCheckRequested``."""
        await sites.request_release_check(site_id, actor)
        return CheckRequested(site_id=site_id)

    @router.get("/sites/{site_id}/devices", response_model=GridView)
    async def device_grid(
        site_id: SitePath,
        _: Account = site_reader_dep,
        filter: Annotated[Literal["all", "updated", "not_updated"], Query()] = "all",
    ) -> GridView:
        """U3/U9: the grid of enabled devices, with the fleet counts."""
        return await views.grid(site_id, filter)

    # --- the update ------------------------------------------------------------------------

    @router.post("/sites/{site_id}/updates", status_code=201, response_model=UpdateView)
    async def open_update(site_id: SitePath, body: OpenUpdateBody,
                          actor: Account = site_admin_dep) -> UpdateView:
        """U2: open "Manage update" with backups confirmed; publishes ``UpdateOpened``.
        U13: a release needing a confirmation code answers ``awaiting_code`` with a fresh
        ``challenge`` (again at each call while it waits). R4: 409 without subscription."""
        update = await updates.open(site_id, body.product, body.backups_confirmed, actor)
        return await views.render(update)

    @router.get("/sites/{site_id}/updates/current", response_model=UpdateView)
    async def current_update(site_id: SitePath, _: Account = site_reader_dep) -> UpdateView:
        return await views.current_update(site_id)

    @router.get("/updates/{update_id}", response_model=UpdateView)
    async def get_update(update_id: UpdateIdPath, _: Account = update_reader_dep) -> UpdateView:
        return await views.update(update_id)

    @router.post("/updates/{update_id}/start-notifications", status_code=202,
                 response_model=RequestAccepted)
    async def start_notifications(update_id: UpdateIdPath, actor: Account = update_admin_dep,
                                  body: NotificationsBody | None = None) -> RequestAccepted:
        """U4: push START UPDATE to every enabled device, or again to some (phase 1)."""
        serials = _serials(body)
        _, request_id = await updates.send_start(update_id, serials, actor)
        return RequestAccepted(request_id=request_id, update_id=update_id)

    @router.post("/updates/{update_id}/server-update", status_code=202,
                 response_model=UpdateView)
    async def server_update(update_id: UpdateIdPath,
                            actor: Account = update_admin_dep) -> UpdateView:
        """U6: phase 2, only when every enabled device is waiting for update (else 409)."""
        return await views.render(await updates.start_server_update(update_id, actor))

    @router.post("/updates/{update_id}/end-notifications", status_code=202,
                 response_model=RequestAccepted)
    async def end_notifications(update_id: UpdateIdPath, actor: Account = update_admin_dep,
                                body: NotificationsBody | None = None) -> RequestAccepted:
        """U9: push END UPDATE (phase 3); the first one releases the devices."""
        serials = _serials(body)
        _, request_id = await updates.send_end(update_id, serials, actor)
        return RequestAccepted(request_id=request_id, update_id=update_id)

    @router.post("/updates/{update_id}/conclusion", response_model=UpdateView)
    async def conclude(update_id: UpdateIdPath, actor: Account = update_admin_dep,
                       body: ConclusionBody | None = None) -> UpdateView:
        """U11: conclude (phase 3); devices not yet updated need confirm_not_updated."""
        confirm = body.confirm_not_updated if body is not None else False
        return await views.render(await updates.conclude(update_id, confirm, actor))

    @router.post("/updates/{update_id}/cancellation", response_model=UpdateView)
    async def cancel(update_id: UpdateIdPath, actor: Account = update_admin_dep) -> UpdateView:
        """U2: close the update before any device was sent START."""
        return await views.render(await updates.cancel(update_id, actor))

    @router.post("/updates/{update_id}/error-notifications", status_code=202,
                 response_model=UpdateView)
    async def reactivate_devices(update_id: UpdateIdPath,
                                 actor: Account = update_admin_dep) -> UpdateView:
        """U12: after a failure, push ERROR UPDATE to every device so they resume work."""
        return await views.render(await updates.reactivate_devices(update_id, actor))

    @router.post("/updates/{update_id}/challenge", response_model=UpdateView)
    async def new_challenge(update_id: UpdateIdPath,
                            actor: Account = update_admin_dep) -> UpdateView:
        """U13: a fresh challenge (the attempts start again)."""
        return await views.render(await updates.new_challenge(update_id, actor))

    @router.post("/updates/{update_id}/confirmation-code", response_model=UpdateView,
                 responses=refusals(429))
    async def confirmation_code(update_id: UpdateIdPath, body: CodeBody,
                                actor: Account = update_admin_dep) -> UpdateView:
        """U13: the vendor's response; valid → phase 1 (open), the release unlocked for good.
        A wrong one answers ``code_not_valid`` with ``attempts_left``."""
        return await views.render(await updates.submit_code(update_id, body.response, actor))

    @router.post("/updates/{update_id}/force-requests", status_code=202)
    async def force_request(update_id: UpdateIdPath,
                            actor: Account = update_admin_dep) -> dict[str, object]:
        """U7, first authorization (409 when every device is waiting: start normally)."""
        update = await views.render(await updates.request_force(update_id, actor))
        return {"force_request": update.force_request, "update": update}

    @router.post("/updates/{update_id}/force-approvals", status_code=202,
                 response_model=UpdateView)
    async def force_approval(update_id: UpdateIdPath, actor: Account = update_admin_dep,
                             body: ForceApprovalBody | None = None) -> UpdateView:
        """U7, second authorization: another admin; or the only admin of the site with his
        password re-entered. Starts the server update forced."""
        password = body.password if body is not None else None

        async def matches(given: str) -> bool:
            return await password_matches(actor, given)

        return await views.render(
            await updates.approve_force(update_id, actor, password, matches))

    @router.post("/updates/{update_id}/resolution", response_model=UpdateView)
    async def resolve(update_id: UpdateIdPath, actor: Account = support_dep) -> UpdateView:
        """U12 (vendor support): the failure is resolved; the red banner goes, a new update
        may be opened. Publishes ``UpdateResolved``."""
        return await views.render(await updates.resolve(update_id, actor))

    return router


def _serials(body: NotificationsBody | None) -> tuple[str, ...] | None:
    if body is None or body.serials is None:
        return None
    if not body.serials:
        raise InvalidCommand("serials is empty: send null for every enabled device, or some "
                             "serials", reason="serials_empty")
    return tuple(dict.fromkeys(body.serials))
