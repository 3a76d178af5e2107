"""The pure parts of ``make bench``: CPU accounting from /proc stat lines, the timeline's
50/95/100 % crossings, histogram quantiles, the floor per device and the services' counters."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lockstep_tools.bench.figures import (
    Floor,
    Timeline,
    histogram_quantile,
    merge_buckets,
    subtract_buckets,
)
from lockstep_tools.bench.probe import counters_gained, phase_cpu, read_counters
from lockstep_tools.bench.proc_cpu import (
    TICKS_PER_S,
    CpuLedger,
    ProcStat,
    parse_stat,
    with_descendants,
)


def stat_line(pid: int, comm: str, ppid: int, utime: int, stime: int, cutime: int = 0,
              cstime: int = 0, start: int = 100) -> str:
    # fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    #              utime stime cutime cstime priority nice threads itrealvalue starttime ...
    rest = ["S", ppid, 1, 1, 0, -1, 4194560, 10, 0, 0, 0, utime, stime, cutime, cstime, 20, 0,
            4, 0, start, 123456, 789]
    return f"{pid} ({comm}) " + " ".join(str(f) for f in rest)


def test_a_stat_line_gives_user_system_and_waited_children_time() -> None:
    stat = parse_stat(stat_line(4242, "lockstep-device", 1, utime=300, stime=50, cutime=7,
                                cstime=3, start=999))
    assert stat == ProcStat(pid=4242, comm="lockstep-device", ppid=1, ticks=360, start_ticks=999)


def test_a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields() -> None:
    stat = parse_stat(stat_line(17, "postgres: 15/main: postgres lockstep (42) idle", 9,
                                utime=11, stime=4))
    assert stat.comm == "postgres: 15/main: postgres lockstep (42) idle"
    assert (stat.ppid, stat.ticks) == (9, 15)


def test_descendants_follow_the_whole_tree_and_nothing_else() -> None:
    stats = [parse_stat(stat_line(pid, "p", ppid, 0, 0))
             for pid, ppid in [(10, 1), (11, 10), (12, 11), (13, 1), (14, 13)]]
    assert with_descendants([10], stats) == {10, 11, 12}


class FakeProc:
    def __init__(self) -> None:
        self.ticks: dict[int, tuple[int, int]] = {}  # pid -> (cpu ticks, start ticks)
        self.clock = 1000

    def read(self, pid: int) -> ProcStat | None:
        if pid not in self.ticks:
            return None
        ticks, start = self.ticks[pid]
        return ProcStat(pid, "p", 1, ticks, start)


def test_the_ledger_counts_only_the_window_and_keeps_what_a_gone_process_spent() -> None:
    proc = FakeProc()
    proc.ticks = {1: (500, 10), 2: (40, 10)}
    ledger = CpuLedger(read=proc.read, now_ticks=lambda: proc.clock)
    ledger.start({"gateway": [1], "postgresql": [2]})
    proc.ticks[1] = (700, 10)
    proc.ticks[3] = (30, 1500)   # a backend born inside the window: counts from zero
    proc.ticks[4] = (900, 20)    # one older than the window, first seen now: from here on
    ledger.follow({"postgresql": [2, 3, 4]})
    proc.ticks[2] = (90, 10)
    proc.ticks[4] = (950, 20)
    ledger.sample()
    del proc.ticks[3]            # the backend disconnected: its last reading stands
    ledger.sample()
    spent = ledger.spent()
    assert spent["gateway"] == pytest.approx(200 / TICKS_PER_S)
    assert spent["postgresql"] == pytest.approx((50 + 30 + 50) / TICKS_PER_S)


def test_the_ledger_refuses_to_follow_before_it_started() -> None:
    with pytest.raises(RuntimeError, match="start the ledger first"):
        CpuLedger(read=FakeProc().read, now_ticks=lambda: 0).follow({"x": [1]})


def test_phase_cpu_is_the_difference_between_marks_over_chosen_groups() -> None:
    cpu_at = {"begin": {"gateway": 1.0, "simulator": 5.0},
              "START": {"gateway": 1.5, "simulator": 9.0, "postgresql": 0.25},
              "end": {"gateway": 4.0, "simulator": 20.0, "postgresql": 1.0}}
    spent = phase_cpu(cpu_at, ["begin", "START", "end"], lambda g: g != "simulator")
    assert spent == {"begin→START": 0.75, "START→end": 3.25}


def timeline() -> Timeline:
    line = Timeline(("acknowledged", "on_new_version"))
    for t, acked, new in [(0.0, 0, 0), (1.0, 0, 0), (1.5, 40, 0), (2.0, 95, 0), (2.5, 99, 0),
                          (3.0, 100, 0), (5.0, 100, 60), (6.0, 100, 100)]:
        line.add(t, {"acknowledged": acked, "on_new_version": new})
    line.marks.update(START=1.0, END=4.0)
    return line


def test_crossings_are_timed_from_the_mark_to_the_first_sample_at_the_fraction() -> None:
    line = timeline()
    assert line.crossings("acknowledged", 100, "START") == {"p50": 1.0, "p95": 1.0, "p100": 2.0}
    assert line.crossings("on_new_version", 100, "END") == {"p50": 1.0, "p95": 2.0, "p100": 2.0}


def test_a_fraction_never_reached_is_none_and_samples_must_go_forward() -> None:
    line = timeline()
    assert line.crossings("on_new_version", 101, "END")["p100"] is None
    with pytest.raises(ValueError, match="forward in time"):
        line.add(5.5, {"acknowledged": 1, "on_new_version": 1})


def test_ninety_five_percent_rounds_up_to_whole_devices() -> None:
    line = Timeline(("waiting",))
    line.add(0.0, {"waiting": 0})
    line.add(1.0, {"waiting": 9})
    line.add(2.0, {"waiting": 10})
    line.marks["START"] = 0.0
    assert line.crossings("waiting", 10, "START")["p95"] == 2.0  # 9.5 devices → 10


BUCKETS = [(0.01, 50.0), (0.05, 90.0), (0.1, 100.0), (math.inf, 100.0)]


def test_histogram_quantiles_interpolate_inside_the_bucket() -> None:
    assert histogram_quantile(0.5, BUCKETS) == pytest.approx(0.01)
    assert histogram_quantile(0.25, BUCKETS) == pytest.approx(0.005)
    assert histogram_quantile(0.7, BUCKETS) == pytest.approx(0.03)
    assert histogram_quantile(0.99, BUCKETS) == pytest.approx(0.095)


def test_a_quantile_beyond_the_last_bound_answers_that_bound_and_empty_is_none() -> None:
    assert histogram_quantile(0.99, [(0.1, 1.0), (math.inf, 10.0)]) == pytest.approx(0.1)
    assert histogram_quantile(0.5, [(0.1, 0.0), (math.inf, 0.0)]) is None
    with pytest.raises(ValueError, match=r"\+Inf"):
        histogram_quantile(0.5, [(0.1, 1.0)])
    with pytest.raises(ValueError, match="q must be"):
        histogram_quantile(1.5, BUCKETS)


def test_buckets_merge_across_services_and_subtract_between_scrapes() -> None:
    merged = merge_buckets([[(0.1, 2.0), (math.inf, 3.0)], [(0.1, 1.0), (math.inf, 1.0)]])
    assert merged == [(0.1, 3.0), (math.inf, 4.0)]
    assert subtract_buckets(merged, [(0.1, 1.0), (math.inf, 1.0)]) == [(0.1, 2.0),
                                                                      (math.inf, 3.0)]


def test_the_floor_per_device_weighs_each_operation_counted() -> None:
    floor = Floor(request_s=0.0001, event_s=0.0004, transaction_s=0.0003)
    assert floor.per_device(10, 6, 6) == pytest.approx(0.001 + 0.0024 + 0.0018)
    with pytest.raises(ValueError, match="events per device cannot be negative"):
        floor.per_device(1, -1, 1)


METRICS = """\
# HELP lockstep_messages_published_total Messages the outbox relay published
# TYPE lockstep_messages_published_total counter
lockstep_messages_published_total{service="orchestrator"} 120.0
# HELP lockstep_messages_handled_total Bus messages handled successfully
# TYPE lockstep_messages_handled_total counter
lockstep_messages_handled_total{queue="a"} 30.0
lockstep_messages_handled_total{queue="b"} 12.0
# HELP lockstep_outbox_publish_lag_seconds lag
# TYPE lockstep_outbox_publish_lag_seconds histogram
lockstep_outbox_publish_lag_seconds_bucket{le="0.01",service="orchestrator"} 100.0
lockstep_outbox_publish_lag_seconds_bucket{le="+Inf",service="orchestrator"} 120.0
lockstep_outbox_publish_lag_seconds_count{service="orchestrator"} 120.0
lockstep_outbox_publish_lag_seconds_sum{service="orchestrator"} 2.0
"""


def test_counters_add_up_over_services_and_count_only_what_the_run_did() -> None:
    before = read_counters([METRICS])
    after = read_counters([METRICS, METRICS.replace("120.0", "200.0")])
    assert (after.published, after.handled) == (320.0, 84.0)
    assert after.lag_buckets == [(0.01, 200.0), (math.inf, 320.0)]
    gained = counters_gained(after, before)
    assert (gained.published, gained.handled) == (200.0, 42.0)
    assert gained.lag_buckets == [(0.01, 100.0), (math.inf, 200.0)]


def test_the_default_bench_is_one_site_and_full_adds_the_big_runs() -> None:
    from lockstep_tools.bench.cli import Plan, plan_for

    assert plan_for(1000, False, None, 100, 50) == Plan(one_site=(1000,))
    assert plan_for(1000, True, None, 100, 50) == Plan(one_site=(1000, 10_000), sites=(100, 50),
                                                       idle=10_000)
    assert plan_for(300, True, "idle", 100, 50) == Plan(one_site=(), idle=300)
    assert plan_for(300, False, "sites", 3, 5) == Plan(one_site=(), sites=(3, 5))


def test_a_full_or_one_site_plan_compares_staging_unless_told_not_to() -> None:
    from lockstep_tools.bench.cli import plan_for

    assert plan_for(1000, False, None, 100, 50).compare_staging
    assert plan_for(1000, True, None, 100, 50).compare_staging
    assert not plan_for(1000, False, "one_site", 100, 50, compare_staging=False).compare_staging


def test_stop_times_say_whether_staging_made_the_stop_shorter() -> None:
    from lockstep_tools.bench.cli import stop_time_summary
    from lockstep_tools.bench.runs import stop_time_figures

    both = stop_time_figures({"without_staging": 12.345, "with_staging": 4.5})
    assert both == {"stop_time_s": {"without_staging": 12.35, "with_staging": 4.5},
                    "staging_shortens_stop": True}
    assert not stop_time_figures({"without_staging": 3.0, "with_staging": 3.0})[
        "staging_shortens_stop"]
    alone = stop_time_figures({"without_staging": 7.0})
    assert alone == {"stop_time_s": {"without_staging": 7.0}}
    assert stop_time_summary(both["stop_time_s"]) == (
        "stop time 12.35 s without staging, 4.5 s with it")
    assert stop_time_summary(alone["stop_time_s"]) == "stop time 7.0 s without staging"


def test_the_pools_shrink_to_the_connections_a_shared_server_has_free(tmp_path: Path) -> None:
    from lockstep_tools.bench.runs import (
        OTHER_CONNECTIONS,
        POOL_SIZE,
        SMALLEST_POOL,
        environment,
        pool_size_for,
    )

    assert pool_size_for(100) == POOL_SIZE
    assert pool_size_for(2 * POOL_SIZE + OTHER_CONNECTIONS) == POOL_SIZE
    assert pool_size_for(OTHER_CONNECTIONS + 21) == 10
    assert pool_size_for(5) == SMALLEST_POOL
    assert environment(tmp_path).extra_env == {}
    assert environment(tmp_path, 10).extra_env == {"LOCKSTEP_GATEWAY_DB_POOL_SIZE": "10",
                                                "LOCKSTEP_ORCHESTRATOR_DB_POOL_SIZE": "10"}


def test_the_long_polls_parked_are_the_gateways_own_gauge_summed_over_processes() -> None:
    gauge = ("# HELP lockstep_gateway_connected_devices polls\n"
             "# TYPE lockstep_gateway_connected_devices gauge\n"
             "lockstep_gateway_connected_devices {n}\n")
    counters = read_counters([gauge.format(n="4000.0"), gauge.format(n="2500.0"), METRICS])
    assert counters.parked == 6500.0
    assert read_counters([METRICS]).parked == 0.0


def test_sigterm_cancels_the_run_and_its_cleanup_runs() -> None:
    import asyncio
    import os
    import signal

    from lockstep_tools.bench.cli import cancelled_on_sigterm

    cleaned: list[str] = []

    async def run() -> None:
        try:
            asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)
            await asyncio.sleep(30)
        finally:
            cleaned.append("environment torn down")

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(cancelled_on_sigterm(run()))
    assert cleaned == ["environment torn down"]


def test_a_fleet_switched_on_at_a_rate_refuses_a_rate_of_zero() -> None:
    import asyncio

    from lockstep_tools.simulator.fleet import Fleet

    fleet = Fleet("http://127.0.0.1:9", "shop-1", "code", 3, "03.01.00_030")
    with pytest.raises(ValueError, match="starts_per_s"):
        asyncio.run(fleet.run(starts_per_s=0))


def test_a_full_postgresql_is_waited_for_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    import asyncpg

    from lockstep_tools.bench import runs

    answers: list[object] = [asyncpg.TooManyConnectionsError("sorry, too many clients"),
                             (40, 60, 100)]

    async def connections(admin_dsn: str) -> tuple[int, int, int]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    async def no_wait(seconds: float) -> None:
        """The test does not sleep between looks."""

    said: list[str] = []
    monkeypatch.setattr(runs, "_connections", connections)
    monkeypatch.setattr(runs.asyncio, "sleep", no_wait)
    free = asyncio.run(runs.wait_for_connections("postgresql://x", 30, said.append))
    assert free == 40 and answers == []
    assert said == ["waiting for PostgreSQL connections: all of its in use, 30 needed"]
