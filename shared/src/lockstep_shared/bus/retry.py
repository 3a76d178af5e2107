"""Backoff between redeliveries of a message whose handler failed transiently."""

from __future__ import annotations

DEFAULT_MAX_DELIVERIES = 10


def backoff_s(delivery: int, *, base: float = 0.05, cap: float = 5.0) -> float:
    """Delay before delivery number ``delivery + 1`` (1-based): 50 ms doubling, capped at 5 s."""
    return min(cap, base * (2 ** max(0, delivery - 1)))
