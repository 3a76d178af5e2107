"""The bus port and its two adapters (X1, X3, X4)."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from lockstep_shared.bus.identity import PublisherCheck
from lockstep_shared.bus.port import Bus, DeadLetter, Handler, Outgoing, PermanentError
from lockstep_shared.catalogue import Service
from lockstep_shared.settings import LockstepSettings

__all__ = ["Bus", "DeadLetter", "Handler", "Outgoing", "PermanentError", "connect",
           "publishing_as"]


def connect(settings: LockstepSettings, service: Service | None = None) -> Bus:
    """RabbitMQ when ``LOCKSTEP_AMQP_URL`` is set, else the in-process bus under ``var_dir``.

    Either way a consumer refuses a message from a publisher its type does not allow
    (``identity.py``). On the in-process bus each service publishes through
    ``bus.as_service(name)``: given ``service``, that view is returned."""
    if settings.amqp_url:
        from lockstep_shared.bus.rabbit import RabbitBus

        login = unquote(urlsplit(settings.amqp_url).username or "guest")
        shared = login if settings.bus_shared_login else None
        return RabbitBus(settings.amqp_url, settings.bus_namespace,
                         publishers=PublisherCheck(settings.bus_namespace, shared_login=shared))
    from lockstep_shared.bus.memory import InProcessBus

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    bus = InProcessBus(settings.var_dir / "bus.db", settings.bus_namespace,
                       publishers=PublisherCheck(settings.bus_namespace))
    return bus.as_service(service) if service else bus


def publishing_as(bus: Bus, service: Service) -> Bus:
    """The bus ``service`` is given when several services share one process (single-node):
    the in-process bus records it as the publisher of what it sends. On RabbitMQ the
    connection's login is the publisher, so the bus is returned as is."""
    from lockstep_shared.bus.memory import InProcessBus

    return bus.as_service(service) if isinstance(bus, InProcessBus) else bus
