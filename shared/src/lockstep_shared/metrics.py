"""Prometheus metrics (X5): the figures an operator watches, one registry per process.

Counters and histograms are updated where things happen. Figures that live in a database
(updates by state, devices by state, outbox backlog) are read when ``/metrics`` is scraped, by
async *refreshers* each service registers — one query per figure per scrape, never per event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger(__name__)

Refresher = Callable[[], Awaitable[None]]
_refreshers: list[Refresher] = []

OUTBOX_BACKLOG = Gauge(
    "lockstep_outbox_backlog", "Messages committed but not yet published", ["service"]
)
MESSAGES_PUBLISHED = Counter(
    "lockstep_messages_published_total", "Messages the outbox relay published", ["service"]
)
OUTBOX_PUBLISH_LAG_SECONDS = Histogram(
    "lockstep_outbox_publish_lag_seconds",
    "From an outbox row's write (just before its transaction's commit) to the broker's "
    "confirm of its message",
    ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
             120, 300),
)
MESSAGES_HANDLED = Counter(
    "lockstep_messages_handled_total", "Bus messages handled successfully", ["queue"]
)
REDELIVERIES = Counter(
    "lockstep_consumer_redeliveries_total",
    "Bus messages whose handler failed and that will be delivered again",
    ["queue"],
)
DEAD_LETTERED = Counter(
    "lockstep_dead_lettered_total", "Bus messages sent to the dead-letter queue", ["queue"]
)
PUBLISHER_REFUSED = Counter(
    "lockstep_bus_publisher_refused_total",
    "Bus messages dead-lettered unhandled: published by a service that may not publish the type",
    ["queue", "type"],
)
UNSIGNED_PACKAGES_REFUSED = Counter(
    "lockstep_agent_unsigned_packages_refused_total",
    "Install commands refused because the vendor's TUF metadata does not vouch for the package",
)
INSTALL_COMMANDS_NOT_ISSUED = Counter(
    "lockstep_agent_install_commands_not_issued_total",
    "Install commands refused because the orchestrator has no such update of the agent's site "
    "in its server-install phase, with that package (forged or stale)",
)
CONSUMER_HELD = Gauge(
    "lockstep_consumer_held",
    "1 while a consumer holds its deliveries because its database is unavailable",
    ["queue"],
)
UPDATES_BY_STATE = Gauge("lockstep_updates", "Updates by saga state", ["state"])
DEVICES_BY_STATE = Gauge("lockstep_devices", "Devices by state", ["state"])
PUSH_DELIVERY_SECONDS = Histogram(
    "lockstep_push_delivery_seconds",
    "From a push notification's creation to the device's acknowledgement",
    ["kind"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
RELEASE_CHECKS = Counter(
    "lockstep_release_checks_total", "Vendor feed checks by outcome", ["outcome"]
)
INSTALLS = Counter("lockstep_installs_total", "Server installs by outcome", ["outcome"])
INSTALL_SECONDS = Histogram(
    "lockstep_install_seconds", "Duration of server installs",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)
CREDENTIALS_REFUSED = Counter(
    "lockstep_credentials_refused_total",
    "Logins and device registrations refused, by code (login_throttled, wrong_credentials, "
    "enrolment_refused, registration_throttled, reregistration_refused)", ["code"],
)


def register_refresher(refresher: Refresher) -> None:
    """An async function that sets database-backed gauges just before a scrape (once)."""
    if refresher not in _refreshers:
        _refreshers.append(refresher)


def unregister_refresher(refresher: Refresher) -> None:
    if refresher in _refreshers:
        _refreshers.remove(refresher)


async def render() -> tuple[bytes, str]:
    results = await asyncio.gather(
        *(asyncio.wait_for(r(), 5) for r in list(_refreshers)), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException):
            log.warning("a metrics refresher failed: %s", result)
    return generate_latest(), CONTENT_TYPE_LATEST
