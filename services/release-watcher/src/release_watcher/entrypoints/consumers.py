"""What the watcher consumes (queue ``release-watcher``): a site's configuration and "check
now", each handled once (inbox) in the handler's unit of work."""

from __future__ import annotations

from lockstep_shared.bus.subscriptions import Subscriptions
from lockstep_shared.catalogue import ReleaseCheckRequested, SiteConfigured
from lockstep_shared.unit_of_work import UnitOfWork
from release_watcher.service_layer.sites import SiteHandlers

QUEUE = "release-watcher"


def consumers(uow: UnitOfWork, sites: SiteHandlers) -> Subscriptions:
    subs = Subscriptions(QUEUE, uow)
    subs.add(SiteConfigured, sites.on_site_configured)
    subs.add(ReleaseCheckRequested, sites.on_check_requested)
    return subs
