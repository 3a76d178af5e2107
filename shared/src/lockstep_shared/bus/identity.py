"""Who published a bus message, and whether that service may publish its type (S3, S4).

Every service logs in to RabbitMQ as its own user, named here and nowhere else:

- ``<namespace>-orchestrator``, ``<namespace>-release-watcher``, ``<namespace>-device-gateway``
- ``<namespace>-site-<site id>`` for the installer agent of one site

Each message carries RabbitMQ's ``user_id`` property, which the broker validates against the
connection's login (a publisher cannot claim another user's name). A consumer compares it with
the user of the one service the catalogue names as the type's publisher (``ROUTES``), for the
message's own site when that publisher is a site's agent, and refuses anything else: the
message is dead-lettered without being handled, with the counter
``lockstep_bus_publisher_refused_total`` and an error log line. The in-process bus of
single-node runs the same check, with the publishing service's name recorded at publish time.

``shared_login`` is for development only (the demo on one machine, the test suite): every
service logs in as one user, so a message is accepted from that user and no other. The broker's
per-user topic permissions (``provisioning.py``) then cannot keep services apart; production
deployments give each service its own user (deploy/).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from lockstep_shared import metrics
from lockstep_shared.catalogue import ROUTES, Service
from lockstep_shared.envelope import Envelope

log = logging.getLogger(__name__)

PUBLISHER_OF: dict[str, Service] = {
    str(t.model_fields["type"].default): route.publisher for t, route in ROUTES.items()
}
"""Message type name -> the one service that may publish it."""

SITE_USERS: frozenset[Service] = frozenset({"installer-agent"})
"""Services that run once per site, each site with its own bus user."""


def bus_user(service: Service, namespace: str, site_id: str | None = None) -> str:
    """The RabbitMQ user ``service`` logs in as (for a per-site service: that site's)."""
    if service in SITE_USERS:
        if not site_id:
            raise ValueError(f"{service} has one bus user per site: name the site")
        return f"{namespace}-site-{site_id}"
    return f"{namespace}-{service}"


@dataclass(frozen=True)
class PublisherCheck:
    """Refuses a message whose authenticated publisher is not the one its type allows."""

    namespace: str
    shared_login: str | None = None

    def expected_user(self, envelope: Envelope) -> str:
        if self.shared_login is not None:
            return self.shared_login
        return bus_user(PUBLISHER_OF[envelope.type], self.namespace, envelope.siteid)

    def refusal(self, envelope: Envelope, user: str | None) -> str | None:
        """Why this message must not be handled, or None when its publisher may send it."""
        expected = self.expected_user(envelope)
        if user == expected:
            return None
        return (f"{envelope.type} may be published only by {PUBLISHER_OF[envelope.type]} "
                f"(bus user {expected!r}); this one was published by "
                f"{'an unknown user' if user is None else repr(user)}")

    def refused(self, queue: str, envelope: Envelope, user: str | None) -> bool:
        """Check one delivery; a refused one is counted and logged here (the caller
        dead-letters it, or drops a broadcast copy)."""
        reason = self.refusal(envelope, user)
        if reason is None:
            return False
        log.error("refusing message %s on %s: %s", envelope.id, queue, reason)
        metrics.PUBLISHER_REFUSED.labels(queue, envelope.type).inc()
        return True
