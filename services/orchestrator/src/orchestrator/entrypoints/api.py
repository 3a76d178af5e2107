"""Admin API (``/api/v1``, see admin-api.md): routes only parse, call a handler, and map
domain errors to clear 4xx answers (404 unknown, 409 not allowed now, 422 bad body)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, status
from lockstep_shared.catalogue import Product, Serial, SiteId
from lockstep_shared.versions import VersionText
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.domain.model import InvalidCommand, NotAllowed
from orchestrator.service_layer.context import AlreadyExists, NotFound
from orchestrator.service_layer.sites import SiteHandlers
from orchestrator.service_layer.updates import UpdateHandlers
from orchestrator.service_layer.views import (
    BannerView,
    GridView,
    SiteView,
    UpdateView,
    Views,
)


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
    products: list[ProductBody] = Field(min_length=1)
    check_interval_s: int | None = Field(default=None, gt=0)


class OpenUpdateBody(_Body):
    product: Product
    backups_confirmed: bool = False


class NotificationsBody(_Body):
    serials: list[Serial] | None = Field(
        default=None, description="null = every enabled device; else only these (again)")


class ConclusionBody(_Body):
    confirm_not_updated: bool = False


class RequestAccepted(BaseModel):
    request_id: str
    update_id: str


class CheckRequested(BaseModel):
    site_id: str
    status: Literal["requested"] = "requested"


def current_actor(
    x_lockstep_actor: Annotated[str | None, Header(max_length=200)] = None,
) -> str:
    """Who is acting. The seam for accounts and roles (S1, U1): for now a header."""
    return x_lockstep_actor or "admin"


Actor = Annotated[str, Depends(current_actor)]


@contextmanager
def _answers() -> Iterator[None]:
    try:
        yield
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except (NotAllowed, AlreadyExists) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except InvalidCommand as exc:
        raise HTTPException(422, str(exc)) from exc


def admin_router(sites: SiteHandlers, updates: UpdateHandlers, views: Views) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["admin"])

    # --- sites ----------------------------------------------------------------------------

    @router.post("/sites", status_code=201, response_model=SiteView)
    async def create_site(body: CreateSiteBody, actor: Actor) -> SiteView:
        """Create a site; publishes ``SiteConfigured`` (enrolment code only as its sha256)."""
        with _answers():
            await sites.create(body.site_id, body.name, body.license_key, body.enrolment_code,
                               {p.product: p.version for p in body.products},
                               body.check_interval_s)
            return await views.site(body.site_id)

    @router.get("/sites", response_model=list[SiteView])
    async def list_sites() -> list[SiteView]:
        return await views.sites()

    @router.get("/sites/{site_id}", response_model=SiteView)
    async def get_site(site_id: str) -> SiteView:
        with _answers():
            return await views.site(site_id)

    @router.get("/sites/{site_id}/banner", response_model=BannerView)
    async def get_banner(site_id: str) -> BannerView:
        """N1: what every user of the site sees."""
        with _answers():
            return await views.banner(site_id)

    @router.post("/sites/{site_id}/release-checks", status_code=202,
                 response_model=CheckRequested)
    async def check_now(site_id: str, actor: Actor) -> CheckRequested:
        """R3 "check now": publishes ``ReleaseCheckRequested``."""
        with _answers():
            await sites.request_release_check(site_id, actor)
        return CheckRequested(site_id=site_id)

    @router.get("/sites/{site_id}/devices", response_model=GridView)
    async def device_grid(
        site_id: str,
        filter: Annotated[Literal["all", "updated", "not_updated"], Query()] = "all",
    ) -> GridView:
        """U3/U9: the grid of enabled devices, with the fleet counts."""
        with _answers():
            return await views.grid(site_id, filter)

    # --- the update ------------------------------------------------------------------------

    @router.post("/sites/{site_id}/updates", status_code=201, response_model=UpdateView)
    async def open_update(site_id: str, body: OpenUpdateBody, actor: Actor) -> UpdateView:
        """U2: open "Manage update" with backups confirmed; publishes ``UpdateOpened``."""
        with _answers():
            update = await updates.open(site_id, body.product, body.backups_confirmed, actor)
            return await views.render(update)

    @router.get("/sites/{site_id}/updates/current", response_model=UpdateView)
    async def current_update(site_id: str) -> UpdateView:
        with _answers():
            return await views.current_update(site_id)

    @router.get("/updates/{update_id}", response_model=UpdateView)
    async def get_update(update_id: str) -> UpdateView:
        with _answers():
            return await views.update(update_id)

    @router.post("/updates/{update_id}/start-notifications", status_code=202,
                 response_model=RequestAccepted)
    async def start_notifications(update_id: str, actor: Actor,
                                  body: NotificationsBody | None = None) -> RequestAccepted:
        """U4: push START UPDATE to every enabled device, or again to some (phase 1)."""
        serials = _serials(body)
        with _answers():
            _, request_id = await updates.send_start(update_id, serials, actor)
        return RequestAccepted(request_id=request_id, update_id=update_id)

    @router.post("/updates/{update_id}/server-update", status_code=202,
                 response_model=UpdateView)
    async def server_update(update_id: str, actor: Actor) -> UpdateView:
        """U6: phase 2, only when every enabled device is waiting for update (else 409)."""
        with _answers():
            return await views.render(await updates.start_server_update(update_id, actor))

    @router.post("/updates/{update_id}/end-notifications", status_code=202,
                 response_model=RequestAccepted)
    async def end_notifications(update_id: str, actor: Actor,
                                body: NotificationsBody | None = None) -> RequestAccepted:
        """U9: push END UPDATE (phase 3); the first one releases the devices."""
        serials = _serials(body)
        with _answers():
            _, request_id = await updates.send_end(update_id, serials, actor)
        return RequestAccepted(request_id=request_id, update_id=update_id)

    @router.post("/updates/{update_id}/conclusion", response_model=UpdateView)
    async def conclude(update_id: str, actor: Actor,
                       body: ConclusionBody | None = None) -> UpdateView:
        """U11: conclude (phase 3); devices not yet updated need confirm_not_updated."""
        confirm = body.confirm_not_updated if body is not None else False
        with _answers():
            return await views.render(await updates.conclude(update_id, confirm, actor))

    @router.post("/updates/{update_id}/cancellation", response_model=UpdateView)
    async def cancel(update_id: str, actor: Actor) -> UpdateView:
        """U2: close the update before any device was sent START."""
        with _answers():
            return await views.render(await updates.cancel(update_id, actor))

    @router.post("/updates/{update_id}/error-notifications", status_code=202,
                 response_model=UpdateView)
    async def reactivate_devices(update_id: str, actor: Actor) -> UpdateView:
        """U12: after a failure, push ERROR UPDATE to every device so they resume work."""
        with _answers():
            return await views.render(await updates.reactivate_devices(update_id, actor))

    return router


def _serials(body: NotificationsBody | None) -> tuple[str, ...] | None:
    if body is None or body.serials is None:
        return None
    if not body.serials:
        raise HTTPException(422,
                            "serials is empty: send null for every enabled device, or some serials")
    return tuple(dict.fromkeys(body.serials))
