"""Admin API: the vendor's view across sites (issue 14 §3), for vendor support only
(``Permission.VENDOR_VIEW``): the sites with filters and a CSV export, one release's way
through the fleet, the failed updates waiting for support with their report."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel

from lockstep_shared.catalogue import Product
from lockstep_shared.http_limits import refusals
from lockstep_shared.versions import VersionText
from orchestrator.domain.accounts import Account, Permission
from orchestrator.domain.vendor_view import SiteFilter
from orchestrator.entrypoints.auth import Guard
from orchestrator.entrypoints.errors import AdminRoute
from orchestrator.service_layer.vendor_view import (
    FailedUpdateView,
    ReleaseAdoptionView,
    VendorSiteView,
    VendorViews,
)

Banner = Literal["none", "blue", "yellow", "green", "white", "update_in_progress",
                 "server_updated", "red"]
CSV = {"text/csv": {"schema": {"type": "string"}}}


class VendorSites(BaseModel):
    sites: list[VendorSiteView]


class FailedUpdates(BaseModel):
    failed_updates: list[FailedUpdateView]


def vendor_router(view: VendorViews, guard: Guard) -> APIRouter:
    router = APIRouter(prefix="/api/v1/vendor", tags=["vendor"], route_class=AdminRoute,
                       responses=refusals(401, 403, 422))
    support_dep = Depends(guard.allowed(Permission.VENDOR_VIEW))

    def site_filter(
        product: Annotated[Product | None, Query()] = None,
        version: Annotated[VersionText | None, Query()] = None,
        banner: Annotated[Banner | None, Query()] = None,
        subscription: Annotated[Literal["active", "inactive"] | None, Query()] = None,
        failed: Annotated[bool, Query(description="only failed updates waiting for "
                                      "support")] = False,
        q: Annotated[str | None, Query(max_length=100,
                                       description="in the site's id or name")] = None,
    ) -> SiteFilter:
        return SiteFilter(product=product, version=version, banner=banner,
                          subscription=None if subscription is None
                          else subscription == "active", failed_only=failed, text=q or None)

    shown_dep = Depends(site_filter)

    @router.get("/sites", response_model=VendorSites)
    async def sites(shown: SiteFilter = shown_dep, _: Account = support_dep) -> VendorSites:
        """Every site with its products' versions (and next release), subscription, banner,
        last check and active update; failed updates waiting for support first."""
        return VendorSites(sites=await view.sites(shown))

    @router.get("/sites.csv", response_class=Response,
                responses={200: {"description": "the same sites as CSV", "content": CSV}})
    async def sites_csv(shown: SiteFilter = shown_dep, _: Account = support_dep) -> Response:
        """The sites of ``GET /vendor/sites`` with the same filters, as CSV (one row each)."""
        return Response(await view.sites_csv(shown), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition":
                                 'attachment; filename="lockstep-sites.csv"'})

    @router.get("/releases/{product}/{version}", response_model=ReleaseAdoptionView)
    async def release(product: Product, version: VersionText,
                      _: Account = support_dep) -> ReleaseAdoptionView:
        """How many sites (and which) are on the release, past it, updating to it, failed,
        offered it, or not yet offered it."""
        return await view.release(product, version)

    @router.get("/failed-updates", response_model=FailedUpdates)
    async def failed_updates(_: Account = support_dep) -> FailedUpdates:
        """Failed updates waiting for support, the oldest first, each with its report."""
        return FailedUpdates(failed_updates=await view.failed_updates())

    return router
