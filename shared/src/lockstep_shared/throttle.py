"""Failure throttles (S6): after ``allowed`` failures counted against one key (a username, a
client address, a site) within ``window``, further attempts are refused until the oldest of
them leaves the window. Pure: the failures are passed in, the caller stores them.

Every throttled request counts against *each* of its keys separately (a user from any client,
a client for any user), so changing one of them (another client address, another username)
does not reset the other. The caller makes count-and-check atomic by holding a lock on its keys
while it counts and records the attempt (``lockstep_shared.db.lock_keys``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Limit:
    allowed: int
    window: timedelta

    def retry_after(self, failures: Sequence[datetime], now: datetime) -> int | None:
        """Seconds to wait before the next attempt (Retry-After), None = one may be tried."""
        recent = sorted(t for t in failures if now - t < self.window)
        if len(recent) < self.allowed:
            return None
        frees_at = recent[-self.allowed] + self.window
        return max(1, int((frees_at - now).total_seconds() + 0.999))


def retry_after(limits: Mapping[str, Limit], failures: Mapping[str, Sequence[datetime]],
                now: datetime) -> int | None:
    """The longest wait any of the keys imposes (None = none does). ``limits`` and
    ``failures`` are keyed by the same names (``"user"``, ``"client"``…)."""
    waits = [w for key, limit in limits.items()
             if (w := limit.retry_after(failures.get(key, ()), now)) is not None]
    return max(waits) if waits else None
