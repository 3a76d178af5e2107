"""The bus port and its two adapters (X1, X3, X4)."""

from lockstep_shared.bus.port import Bus, Handler, Outgoing, PermanentError

__all__ = ["Bus", "Handler", "Outgoing", "PermanentError"]
