"""What the watcher consumes (queue ``release-watcher``): a site's configuration and "check
now", each handled once (inbox) in the handler's unit of work."""

from __future__ import annotations

from lockstep_shared.bus.subscriptions import Subscriptions
from lockstep_shared.catalogue import ReleaseCheckRequested, SiteConfigured
from lockstep_shared.unit_of_work import UnitOfWork
from release_watcher.service_layer.site_config import SiteConfigHandlers

QUEUE = "release-watcher"


def consumers(uow: UnitOfWork, handlers: SiteConfigHandlers) -> Subscriptions:
    subscriptions = Subscriptions(QUEUE, uow)
    subscriptions.add(SiteConfigured, handlers.on_site_configured)
    subscriptions.add(ReleaseCheckRequested, handlers.on_check_requested)
    return subscriptions
