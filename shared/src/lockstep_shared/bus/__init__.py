"""The bus port and its two adapters (X1, X3, X4)."""

from __future__ import annotations

from lockstep_shared.bus.port import Bus, DeadLetter, Handler, Outgoing, PermanentError
from lockstep_shared.settings import LockstepSettings

__all__ = ["Bus", "DeadLetter", "Handler", "Outgoing", "PermanentError", "connect"]


def connect(settings: LockstepSettings) -> Bus:
    """RabbitMQ when ``LOCKSTEP_AMQP_URL`` is set, else the in-process bus under ``var_dir``."""
    if settings.amqp_url:
        from lockstep_shared.bus.rabbit import RabbitBus

        return RabbitBus(settings.amqp_url, settings.bus_namespace)
    from lockstep_shared.bus.memory import InProcessBus

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    return InProcessBus(settings.var_dir / "bus.db", settings.bus_namespace)
