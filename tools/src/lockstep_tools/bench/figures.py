"""The benchmark's arithmetic, apart from any process: the timeline of devices per state and
when it crossed 50/95/100 %, quantiles from a Prometheus histogram, and the floor."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

FRACTIONS = (0.5, 0.95, 1.0)


@dataclass
class Timeline:
    """Devices per state, sampled over time (seconds since the run began), and named marks
    (START sent, END sent…) on the same clock."""

    states: tuple[str, ...]
    times: list[float] = field(default_factory=list)
    counts: dict[str, list[int]] = field(default_factory=dict)
    marks: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for state in self.states:
            self.counts.setdefault(state, [])

    def add(self, t: float, counts: dict[str, int]) -> None:
        if self.times and t < self.times[-1]:
            raise ValueError(f"samples go forward in time: {t} after {self.times[-1]}")
        self.times.append(t)
        for state in self.states:
            self.counts[state].append(counts[state])

    def reached(self, state: str, target: int, since: float) -> float | None:
        """Seconds from ``since`` to the first sample at or after it with ``target`` devices in
        ``state`` (None if never)."""
        if target <= 0:
            return 0.0
        for t, count in zip(self.times, self.counts[state], strict=True):
            if t >= since and count >= target:
                return round(t - since, 3)
        return None

    def crossings(self, state: str, total: int, mark: str) -> dict[str, float | None]:
        """From the mark to 50/95/100 % of ``total`` devices in ``state``: {"p50": s, ...}."""
        since = self.marks[mark]
        return {f"p{round(f * 100)}": self.reached(state, math.ceil(f * total), since)
                for f in FRACTIONS}


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The q-quantile of a cumulative histogram given as (upper bound, count) pairs, ``+inf``
    last, interpolated linearly inside the bucket as Prometheus does; None without samples.
    A quantile in the ``+inf`` bucket answers the highest finite bound."""
    if not 0 <= q <= 1:
        raise ValueError(f"q must be in [0, 1], got {q}")
    ordered = sorted(buckets)
    if not ordered or not math.isinf(ordered[-1][0]):
        raise ValueError("a histogram ends with its +Inf bucket")
    total = ordered[-1][1]
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def merge_buckets(histograms: Iterable[Sequence[tuple[float, float]]]) -> list[tuple[float, float]]:
    """Bucket-wise sum of histograms with the same bounds (one per service)."""
    merged: dict[float, float] = {}
    for histogram in histograms:
        for bound, count in histogram:
            merged[bound] = merged.get(bound, 0.0) + count
    return sorted(merged.items())


def subtract_buckets(after: Sequence[tuple[float, float]],
                     before: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """What a histogram gained between two scrapes."""
    earlier = dict(before)
    return [(bound, count - earlier.get(bound, 0.0)) for bound, count in after]


@dataclass(frozen=True)
class Floor:
    """CPU seconds per operation at the floor, measured on this machine."""

    request_s: float
    event_s: float
    transaction_s: float

    def per_device(self, requests: float, events: float, transactions: float) -> float:
        """What one device's requests, events and transactions cost at the floor."""
        for name, value in (("requests", requests), ("events", events),
                            ("transactions", transactions)):
            if value < 0:
                raise ValueError(f"{name} per device cannot be negative: {value}")
        return (requests * self.request_s + events * self.event_s
                + transactions * self.transaction_s)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)
