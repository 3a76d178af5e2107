"""What the benchmark watches while an update runs: the CPU of every process that serves it, the
devices per state (from the simulated fleets), and the services' own counters.

CPU groups: each service process (with its children) under its service name; ``postgresql``:
the backends connected to the run's database, found every second in ``pg_stat_activity`` by
``datname`` (the bench's own monitoring connection is on the ``postgres`` database, so it is not
among them); ``rabbitmq``: every ``beam.smp`` on this host (a shared broker: other users' traffic
in the same seconds is counted too); ``simulator``: this process (the fleets, the admin's
polling); ``vendor_feed``: the vendor's feed server, which is not Lockstep.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from lockstep_tools.bench.figures import Timeline, merge_buckets, subtract_buckets
from lockstep_tools.bench.proc_cpu import CpuLedger, all_stats, pids_by_comm, with_descendants
from lockstep_tools.cluster import ServiceProcess
from lockstep_tools.simulator.fleet import Fleet

STATES = ("registered", "connected", "acknowledged", "blocked", "waiting", "end_received",
          "on_new_version")
SERVER_GROUPS = ("orchestrator", "device-gateway", "release-watcher", "installer-agent",
                 "postgresql", "rabbitmq")
LAG = "lockstep_outbox_publish_lag_seconds"
PARKED = "lockstep_gateway_connected_devices"
PROC_SCAN_S = 5.0
"""How often the probe scans all of /proc for the services' processes (their children, the
broker): every scan reads every process of a shared machine, ~15 % of the simulator's CPU
when done every second. The PostgreSQL backends are looked up every second."""


def fleet_counts(fleets: list[Fleet], new_version: str) -> dict[str, int]:
    """Devices per state over the fleets, read straight from the device states (cheap enough
    to run ten times a second over 10,000 devices)."""
    counts = dict.fromkeys(STATES, 0)
    for fleet in fleets:
        for s in fleet.states:
            counts["registered"] += s.phase.value != "unregistered"
            counts["connected"] += s.connected
            counts["acknowledged"] += s.start_received
            counts["blocked"] += s.block_reported
            counts["waiting"] += s.waiting_for_update
            counts["end_received"] += s.end_received
            counts["on_new_version"] += s.app_version == new_version
    return counts


@dataclass
class Counters:
    """The services' Prometheus counters that say how much work was done."""

    published: float = 0.0
    handled: float = 0.0
    lag_buckets: list[tuple[float, float]] = field(default_factory=list)
    parked: float = 0.0
    """Device long-polls waiting on the gateways right now (a gauge, the server's view)."""


def read_counters(texts: list[str]) -> Counters:
    counters = Counters()
    lags = []
    for text in texts:
        buckets: dict[float, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "lockstep_messages_published_total":
                    counters.published += sample.value
                elif sample.name == "lockstep_messages_handled_total":
                    counters.handled += sample.value
                elif sample.name == PARKED:
                    counters.parked += sample.value
                elif sample.name == f"{LAG}_bucket":
                    bound = float(sample.labels["le"])
                    buckets[bound] = buckets.get(bound, 0.0) + sample.value
        if buckets:
            lags.append(sorted(buckets.items()))
    counters.lag_buckets = merge_buckets(lags)
    return counters


def counters_gained(after: Counters, before: Counters) -> Counters:
    return Counters(published=after.published - before.published,
                    handled=after.handled - before.handled,
                    lag_buckets=subtract_buckets(after.lag_buckets, before.lag_buckets))


def service_name(process: ServiceProcess) -> str:
    """``device-gateway-0`` → ``device-gateway``."""
    return process.name.rsplit("-", 1)[0]


@dataclass
class Probe:
    processes: list[ServiceProcess]
    feed: ServiceProcess | None
    database: str
    admin_dsn: str
    new_version: str
    fleets: list[Fleet] = field(default_factory=list)
    sample_every_s: float = 0.1
    timeline: Timeline = field(default_factory=lambda: Timeline(STATES))
    ledger: CpuLedger = field(default_factory=CpuLedger)
    cpu_at: dict[str, dict[str, float]] = field(default_factory=dict)
    requests_at: dict[str, int] = field(default_factory=dict)
    _scanned: tuple[float, dict[str, list[int]]] | None = field(default=None, init=False)

    async def __aenter__(self) -> Probe:
        import asyncpg

        self._pg = await asyncpg.connect(self.admin_dsn)
        self._pg_lock = asyncio.Lock()  # one query at a time on the connection
        self._http = httpx.AsyncClient(timeout=10)
        self._began = time.monotonic()
        self._counters_before = await self.scrape()
        self._xact_before = await self.transactions()
        self.ledger.start(await self.groups())
        self._tasks = [asyncio.create_task(self._sample_states()),
                       asyncio.create_task(self._follow_processes())]
        self.mark("begin")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stop_sampling()
        await self._http.aclose()
        await self._pg.close()

    async def _stop_sampling(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def now(self) -> float:
        return time.monotonic() - self._began

    def mark(self, name: str) -> None:
        """A moment of the run (START sent…): on the timeline, with the CPU spent until then
        and the requests sent until then."""
        self.timeline.marks[name] = round(self.now, 3)
        self.ledger.sample()
        self.cpu_at[name] = self.ledger.spent()
        self.requests_at[name] = sum(f.requests_sent for f in self.fleets)

    async def groups(self) -> dict[str, list[int]]:
        if self._scanned is None or time.monotonic() - self._scanned[0] >= PROC_SCAN_S:
            self._scanned = (time.monotonic(), self._process_groups())
        groups = {name: list(pids) for name, pids in self._scanned[1].items()}
        async with self._pg_lock:
            rows = await self._pg.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1",
                                        self.database)
        groups["postgresql"] = [r["pid"] for r in rows]
        return groups

    def _process_groups(self) -> dict[str, list[int]]:
        """The processes of each group, from one scan of /proc."""
        stats = all_stats()
        groups: dict[str, list[int]] = {}
        for process in self.processes:
            if process.process is not None:
                groups.setdefault(service_name(process), []).extend(
                    with_descendants([process.process.pid], stats))
        if self.feed is not None and self.feed.process is not None:
            groups["vendor_feed"] = [self.feed.process.pid]
        groups["rabbitmq"] = pids_by_comm("beam.smp", stats=stats)
        groups["simulator"] = [os.getpid()]
        return groups

    async def transactions(self) -> int:
        async with self._pg_lock:
            value = await self._pg.fetchval(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1",
                self.database)
        return int(value or 0)

    async def scrape(self) -> Counters:
        texts = []
        for process in self.processes:
            with contextlib.suppress(httpx.HTTPError):
                response = await self._http.get(f"{process.url}/metrics")
                if response.status_code == 200:
                    texts.append(response.text)
        return read_counters(texts)

    async def _sample_states(self) -> None:
        while True:
            self.timeline.add(round(self.now, 3), fleet_counts(self.fleets, self.new_version))
            await asyncio.sleep(self.sample_every_s)

    async def _follow_processes(self) -> None:
        while True:
            await asyncio.sleep(1)
            with contextlib.suppress(Exception):
                self.ledger.follow(await self.groups())

    async def finish(self, settle_s: float = 11.0) -> dict[str, Any]:
        """Close the CPU window now; the counters after ``settle_s`` (a PostgreSQL backend
        reports its transactions to pg_stat_database up to 10 s after going idle)."""
        await self._stop_sampling()
        self.ledger.follow(await self.groups())
        self.mark("end")
        counters = counters_gained(await self.scrape(), self._counters_before)
        await asyncio.sleep(settle_s)
        transactions = await self.transactions() - self._xact_before
        return {"cpu_s": self.cpu_at["end"], "counters": counters,
                "transactions": transactions,
                "requests": self.requests_at["end"] - self.requests_at["begin"]}


def phase_cpu(cpu_at: dict[str, dict[str, float]], order: list[str],
              groups: Callable[[str], bool]) -> dict[str, float]:
    """Server CPU seconds spent between successive marks, summed over the chosen groups."""
    spent = {}
    for earlier, later in itertools.pairwise(order):
        total_later = sum(v for g, v in cpu_at[later].items() if groups(g))
        total_earlier = sum(v for g, v in cpu_at[earlier].items() if groups(g))
        spent[f"{earlier}→{later}"] = round(total_later - total_earlier, 3)
    return spent
