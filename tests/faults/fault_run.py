"""One cell of the fault matrix: a distributed coordinated update (each service its own process
on the private RabbitMQ node and PostgreSQL cluster) with simulated devices, one fault injected
at one step, then the checks every update must pass whatever crashed on the way.

The admin here is a patient person: while Lockstep restarts, a click that got no answer (or a
5xx) is clicked again. The devices are the tools' simulator; a few are slow (they act 3 s after
each notification), so the fault at "download" lands while they still download.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from fault_matrix import Cell, Result
from fault_servers import PrivatePostgres, PrivateRabbitMQ

from lockstep_tools.demo.admin import AdminClient, AdminError
from lockstep_tools.demo.cli import PRODUCT
from lockstep_tools.demo.environment import DemoEnvironment, wait_ready
from lockstep_tools.demo.scenarios.stage import Stage
from lockstep_tools.simulator.behaviour import Behaviour

DEVICES = 10
SLOW_DEVICES = 3
SLOW_S = 3.0
INSTALL_SECONDS = 4
"""Long enough for the fault at "install" to land while the installer runs."""
SUPERVISOR_RESTART_DELAY_S = 1.0
SCHEMAS = ("orchestrator", "device_gateway", "release_watcher", "installer_agent")
ADMIN_ACTIONS = ("update.open", "update.start_push", "update.server_update", "update.end_push",
                 "update.conclude", "install.started", "install.succeeded")
"""Audited exactly once (outcome ok) in every cell: the admin's clicks and the agent's
install start and success."""


class PatientAdmin(AdminClient):
    """Clicks again after a connection error or a 5xx, for up to ``patience_s``."""

    patience_s = 150.0

    async def call(self, method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = (
            200, 201, 202, 204)) -> Any:
        deadline = time.monotonic() + self.patience_s
        while True:
            try:
                response = await self.http.request(method, path, json=body)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 500:
                    break
                problem = f"{response.status_code}: {response.text[:200]}"
            if time.monotonic() > deadline:
                raise AdminError(f"{method} {path}: still {problem} after {self.patience_s:.0f}s")
            await asyncio.sleep(1)
        if response.status_code not in ok:
            raise AdminError(f"{method} {path} → {response.status_code}: {response.text}")
        return response.json() if response.content else None


class Injector:
    """Injects the cell's fault when the update reaches its step, in the background (the
    update goes on meanwhile), and repairs it as a supervisor or an operator would."""

    def __init__(self, cell: Cell, env: DemoEnvironment, rabbit: PrivateRabbitMQ,
                 pg: PrivatePostgres, say: Callable[[str], None]) -> None:
        self.cell, self.env, self.rabbit, self.pg, self.say = cell, env, rabbit, pg, say
        self.task: asyncio.Task[None] | None = None

    async def at(self, step: str) -> None:
        if step == self.cell.step and self.task is None:
            self.say(f"FAULT at {step}: {self.cell.fault.title}")
            self.task = asyncio.create_task(self._inject())
            await asyncio.sleep(0)

    async def _inject(self) -> None:
        fault = self.cell.fault
        if fault.kind == "kill":
            assert self.env.cluster is not None
            process = next(p for p in self.env.cluster.processes
                           if p.name.startswith(fault.target + "-"))
            process.kill()
            await asyncio.sleep(SUPERVISOR_RESTART_DELAY_S)
            process.start()
            await wait_ready(process, timeout=120)
        else:
            server = self.rabbit if fault.kind == "broker" else self.pg
            await asyncio.to_thread(server.stop)
            await asyncio.sleep(fault.down_s)
            await asyncio.to_thread(server.start)
        self.say(f"fault repaired: {fault.title}")

    async def repaired(self) -> None:
        if self.task is None:
            raise RuntimeError(f"the update never reached step {self.cell.step!r}")
        await self.task


async def run_cell(cell: Cell, rabbit: PrivateRabbitMQ, pg: PrivatePostgres,
                   work_dir: Path) -> Result:
    started = time.monotonic()

    def say(line: str) -> None:
        print(f"[{cell.id} {time.monotonic() - started:6.1f}s] {line}", flush=True)

    env = DemoEnvironment("distributed", work_dir, PRODUCT, database_server=pg.url,
                          amqp_url=rabbit.url,
                          extra_env={"LOCKSTEP_DEMO_INSTALL_SECONDS": str(INSTALL_SECONDS)})
    problems: list[str] = []
    async with env:
        async with Stage(env, DEVICES, say, client=PatientAdmin) as stage:
            stage.timeout = 90 + 2 * cell.fault.down_s
            injector = Injector(cell, env, rabbit, pg, say)
            opened: list[str] = []
            concluded = False
            try:
                await drive(stage, injector.at, opened)
                concluded = True
            except Exception as exc:
                problems.append(f"{type(exc).__name__}: {_short(str(exc))}")
                problems += await _where_it_stands(stage, opened)
            try:
                await injector.repaired()
                assert env.cluster is not None
                await env.cluster.wait_ready(timeout=120)
                if concluded:
                    problems += await check(stage, env, rabbit, opened[0])
            except Exception as exc:
                problems.append(f"after the fault: {type(exc).__name__}: {_short(str(exc))}")
            if problems:
                say("; ".join(problems))
                say(f"fleet: {sum_fleets(stage)}")
                for process, lines in env.logs():
                    print(f"--- last lines of {process} ---\n{lines}", flush=True)
    return Result(cell, problems, time.monotonic() - started)


async def drive(stage: Stage, at: Callable[[str], Awaitable[None]], opened: list[str]) -> None:
    """The happy procedure, announcing each step to the injector; the update's id goes to
    ``opened``."""
    env, to = stage.env, stage.env.release.to_version
    await stage.create_site()
    await stage.start_fleet(DEVICES, behaviours=lambda serials: {
        serial: Behaviour(slow_s=SLOW_S) for serial in serials[-SLOW_DEVICES:]})
    await stage.banner("green")
    await stage.grid_has(DEVICES)
    update_id = str((await stage.open_update())["update_id"])
    opened.append(update_id)
    await at("open")
    await stage.admin.send_start(update_id)
    await at("phase 1")
    await stage.update_until(update_id, f"{DEVICES} devices waiting for update",
                             lambda u: u["fleet"]["waiting"] >= DEVICES)
    await stage.admin.start_server_update(update_id)
    await at("start")
    await stage.update_until(update_id, "the installer started on the host",
                             lambda u: installer_runs(env) >= 1 or u["state"] == "failed")
    if installer_runs(env) == 0:
        raise RuntimeError("the server update failed before the installer ran")
    await at("install")
    await stage.server_updated(update_id)
    await stage.admin.send_end(update_id)
    await at("finish")
    await until(f"a first device on {to}", lambda: stage.on_version(to) >= 1, stage.timeout)
    await at("download")
    await stage.update_until(update_id, f"{DEVICES} devices on {to}",
                             lambda u: u["fleet"]["on_target"] >= DEVICES, extra_s=60)
    await until(f"every simulated device on {to}", lambda: stage.on_version(to) >= DEVICES,
                stage.timeout)
    await stage.admin.conclude(update_id)


async def check(stage: Stage, env: DemoEnvironment, rabbit: PrivateRabbitMQ,
                update_id: str) -> list[str]:
    """What must hold after every cell; each broken fact as one short sentence."""
    problems = []
    to = env.release.to_version
    update = await stage.admin.update(update_id)
    if update["state"] != "concluded":
        problems.append(f"update {update['state']}, not concluded "
                        f"({_short(str(update.get('failure')))})")
    if (on := stage.on_version(to)) != DEVICES:
        problems.append(f"{on}/{DEVICES} devices on {to}")
    if (host := env.installed_on_host()) != to:
        problems.append(f"the host runs {host}, not {to}")
    if (runs := installer_runs(env)) != 1:
        problems.append(f"the installer ran {runs} times on the host")
    audit = await stage.admin.call("GET", f"/audit?site_id={env.site_id}&limit=1000")
    done = Counter(e["action"] for e in audit["entries"] if e["outcome"] == "ok")
    for action in ADMIN_ACTIONS:
        if done[action] != 1:
            problems.append(f"{action} audited {done[action]} times")
    if backlog := await outbox_backlog(env.env["LOCKSTEP_DATABASE_URL"], wait_s=20):
        problems.append(f"outboxes not empty: {backlog}")
    namespace = env.env["LOCKSTEP_BUS_NAMESPACE"]
    dead = {queue: n for queue, n in
            (await asyncio.to_thread(rabbit.queue_depths, f"{namespace}.")).items()
            if queue.endswith(".dead") and n}
    if dead:
        problems.append(f"dead letters: {dead}")
    return problems


async def _where_it_stands(stage: Stage, opened: list[str]) -> list[str]:
    """After a step that never came: the update's state and failure, as the admin sees them."""
    if not opened:
        return []
    try:
        update = await stage.admin.update(opened[0])
    except Exception as exc:
        return [f"(the update could not be read: {type(exc).__name__})"]
    return [f"update {update['state']}, failure {_short(str(update.get('failure')), 200)}"]


def installer_runs(env: DemoEnvironment) -> int:
    """How many times the demo installer started on the host (its own record)."""
    path = env.host_dir / "installer-runs"
    return len(path.read_text().splitlines()) if path.exists() else 0


async def outbox_backlog(database_url: str, *, wait_s: float) -> dict[str, int]:
    """Rows left in each service's outbox, after giving the relays ``wait_s`` to drain."""
    deadline = time.monotonic() + wait_s
    conn = await asyncpg.connect(database_url)
    try:
        while True:
            backlog = {}
            for schema in SCHEMAS:
                rows = await conn.fetchval(f'SELECT count(*) FROM "{schema}".outbox')
                if rows:
                    backlog[schema] = int(rows)
            if not backlog or time.monotonic() > deadline:
                return backlog
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def until(what: str, done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached within {timeout:.0f}s")
        await asyncio.sleep(0.1)


def sum_fleets(stage: Stage) -> str:
    """The fleet's counts, and each device that failed or saw an error, with its last one."""
    lines = []
    for fleet in stage.fleets:
        snapshot = fleet.snapshot()
        lines.append(snapshot.summary())
        lines += [f"  {d.serial} {d.phase} outcome={d.outcome} errors={d.errors}: {d.last_error}"
                  for d in snapshot.devices if d.last_error or d.phase == "failed"]
    return "\n".join(lines)


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
