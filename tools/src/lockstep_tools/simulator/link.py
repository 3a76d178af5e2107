"""The site's network as the fleet's downloads share it: a shop's Wi-Fi carries so many bytes
a second for every device together. ``None`` (the default) is a network without a limit."""

from __future__ import annotations

import asyncio
import time


class SharedLink:
    """Every download of the fleet draws its bytes from this one link: together they never
    exceed ``bytes_per_s`` (each chunk waits for its turn on the wire)."""

    def __init__(self, bytes_per_s: float) -> None:
        if bytes_per_s <= 0:
            raise ValueError(f"bytes_per_s must be > 0, got {bytes_per_s}")
        self.bytes_per_s = bytes_per_s
        self._free_at = 0.0

    async def carry(self, size: int) -> None:
        """Wait until ``size`` bytes have gone over the link, after those queued before."""
        now = time.monotonic()
        start = max(now, self._free_at)
        self._free_at = start + size / self.bytes_per_s
        await asyncio.sleep(self._free_at - now)
