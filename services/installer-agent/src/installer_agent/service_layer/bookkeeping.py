"""The agent's own writes about an install (running, the step it is in, progress, the outcome),
each one unit of work, retried for as long as the database cannot be reached.

An install's outcome is what the host says (the installer's exit status and the version
command), never an accident of the agent's bookkeeping: a database that goes away while the
installer runs, or just after, only delays these writes — with a bounded backoff, logged, and
shown by ``/readyz`` as the agent's problem — until it is back. Any other error is a bug and
is raised to the caller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from lockstep_shared.db import is_unavailable
from lockstep_shared.envelope import Envelope
from lockstep_shared.unit_of_work import Tx, UnitOfWork

log = logging.getLogger("installer_agent.host")

T = TypeVar("T")


class Bookkeeping:
    def __init__(self, uow: UnitOfWork, *, retry_base_s: float = 0.25,
                 retry_cap_s: float = 5.0) -> None:
        self.uow = uow
        self.retry_base_s = retry_base_s
        self.retry_cap_s = retry_cap_s
        self.problem: str | None = None
        self._unavailable_since: float | None = None

    async def write(self, what: str, work: Callable[[Tx], Awaitable[T]], *,
                    cause: Envelope | None = None) -> T:
        """``work(tx)`` in one unit of work (caused by ``cause``); ``what`` names it in logs."""
        waits = 0
        while True:
            try:
                async with self.uow.begin(cause=cause) as tx:
                    result = await work(tx)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                waits += 1
                self._unavailable(what, exc)
                await asyncio.sleep(min(self.retry_cap_s, self.retry_base_s * 2 ** (waits - 1)))
                continue
            self._available()
            return result

    def _unavailable(self, what: str, exc: BaseException) -> None:
        if self._unavailable_since is None:
            self._unavailable_since = time.monotonic()
            log.warning("the database is unavailable (%s: %s); recording %s again until it is "
                        "back — the install itself goes on", type(exc).__name__, exc, what)
        self.problem = (f"database unavailable while recording {what}: "
                        f"{type(exc).__name__}: {exc}")[:300]

    def _available(self) -> None:
        if self._unavailable_since is not None:
            log.warning("the database is back after %.1f s; the install's records are written",
                        time.monotonic() - self._unavailable_since)
        self._unavailable_since = None
        self.problem = None

    def problems(self) -> list[str]:
        """For ``/readyz``: why the agent cannot record its installs now."""
        return [self.problem] if self.problem else []
