"""Device token authentication (S2, D9): one indexed SELECT of three columns, cached briefly.

Only a sha256 of each token is stored. The cache maps token hash → (site, serial, enabled) for
``ttl_s`` seconds; a re-registration evicts the old hash at once on this replica (others see
the rotation within the TTL).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from device_gateway.adapters import repository
from device_gateway.service_layer.errors import disabled, unauthorized


@dataclass(frozen=True, slots=True)
class AuthenticatedDevice:
    site_id: str
    serial: str


def new_token(draw: Callable[[int], str] = secrets.token_urlsafe) -> str:
    """A device token (or a site's GatewayToken): 32 random bytes, URL-safe, never starting
    with ``-``. Agents take it on a command line: SWUpdate's suricatta reads ``-k -Xd…`` as its
    own options, and ``d`` disables it — it would never poll (1 token in 64 starts so)."""
    while True:
        token = draw(32)
        if not token.startswith("-"):
            return token


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class DeviceAuthenticator:
    def __init__(self, reads: AsyncEngine, *, ttl_s: float = 5.0, max_entries: int = 200_000,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.reads = reads  # the read-only engine: a token check never waits for a writer
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.monotonic = monotonic
        self._cache: dict[str, tuple[float, str, str, bool]] = {}

    async def authenticate(self, authorization: str | None) -> AuthenticatedDevice:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise unauthorized("missing device token: send 'Authorization: Bearer <device_token>'")
        return await self.device_of(authorization[7:].strip())

    async def device_of(self, token: str) -> AuthenticatedDevice:
        """The enabled device holding ``token`` (the Bearer token, or DDI's TargetToken)."""
        digest = token_hash(token)
        now = self.monotonic()
        hit = self._cache.get(digest)
        if hit is None or hit[0] < now:
            async with self.reads.connect() as conn:
                row = await repository.device_by_token(conn, digest)
            if row is None:
                self._cache.pop(digest, None)
                raise unauthorized()
            if len(self._cache) >= self.max_entries:
                self._cache.clear()
            hit = (now + self.ttl_s, row.site_id, row.serial, row.enabled)
            self._cache[digest] = hit
        if not hit[3]:
            raise disabled()
        return AuthenticatedDevice(hit[1], hit[2])

    def forget(self, digest: str) -> None:
        self._cache.pop(digest, None)

    def forget_device(self, site_id: str, serial: str) -> None:
        """The device was disabled or enabled: this replica sees it at once (rare, so a scan)."""
        for digest, (_, site, device_serial, _) in list(self._cache.items()):
            if site == site_id and device_serial == serial:
                del self._cache[digest]
