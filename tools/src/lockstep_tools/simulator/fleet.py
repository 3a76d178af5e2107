"""A fleet of simulated devices in one process: register them, run them, watch them.

fleet = Fleet("http://127.0.0.1:8001", "shop-1", "enrol-code", 500, "03.01.00_030",
              behaviours=assign_behaviours(serials, offline=5))
await fleet.register()
await fleet.run()                      # one background task per device
await fleet.wait_until(lambda s: s.blocked == 495, timeout=60)
await fleet.bring_online(serials[-5:])  # the offline ones come back
await fleet.stop()

Running devices also ask for an update every ``check_every_s`` seconds (spread evenly over the
fleet), as a mobile app checks "on every exchange with the server" (seed 000). The default,
"auto", is 10 s, longer for fleets above 100 devices so that a fleet asks at most 10 times a
second. The operator's
actions on one device: ``hand_in_data``, ``check_for_update``, ``begin_manual``/``enter_code2``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import time
from collections.abc import Callable
from typing import Literal

import httpx

from lockstep_tools.simulator import gateway_api as api
from lockstep_tools.simulator.behaviour import WELL_BEHAVED, Behaviour, serial_for
from lockstep_tools.simulator.device import SimulatedDevice
from lockstep_tools.simulator.device_state import DeviceState
from lockstep_tools.simulator.fleet_snapshot import DeviceView, FleetSnapshot, snapshot_of, view_of
from lockstep_tools.simulator.link import SharedLink
from lockstep_tools.simulator.offline_codes import Action, Challenge

SHARD_SIZE = 8
"""Devices per HTTP client: httpcore scans every connection of its pool (expiry checks) on each
request: ~15 % of the simulator's CPU with 32 devices (up to 72 connections) a
client during ``make bench``; 8 devices keep the scan short."""
DEFAULT_CHECK_EVERY_S = 10.0
AUTO_CHECKS_PER_S = 10.0


class Fleet:
    def __init__(
        self,
        gateway_url: str,
        site_id: str,
        enrolment_code: str,
        count: int,
        app_version: str,
        *,
        serial_prefix: str = "SIM",
        behaviours: dict[str, Behaviour] | None = None,
        concurrency_limit: int = 64,
        download_limit: int = 50,
        model: str = "TC52",
        wait_s: int = 25,
        seed: int = 0,
        check_every_s: float | Literal["auto"] | None = "auto",
        staging: bool = False,
        link_bytes_per_s: float | None = None,
    ) -> None:
        """``staging``: running devices stage the site's next release in the background
        (issue 14 §2). ``link_bytes_per_s``: the site's network every download shares (a
        shop's Wi-Fi); None: no limit."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        if check_every_s == "auto":
            check_every_s = max(DEFAULT_CHECK_EVERY_S, count / AUTO_CHECKS_PER_S)
        if check_every_s is not None and check_every_s <= 0:
            raise ValueError(f"check_every_s must be > 0 (or None: never), got {check_every_s}")
        self.check_every_s = check_every_s
        if not 0 <= wait_s <= 30:
            raise ValueError(f"wait_s must be 0-30 (the gateway's long-poll limit), got {wait_s}")
        self.gateway_url = gateway_url.rstrip("/")
        self.site_id = site_id
        self.enrolment_code = enrolment_code
        self.model = model
        self.wait_s = wait_s
        behaviours = behaviours or {}
        self.serials = [serial_for(serial_prefix, i) for i in range(count)]
        unknown = set(behaviours) - set(self.serials)
        if unknown:
            raise ValueError(
                f"behaviours given for serials not in the fleet: {sorted(unknown)[:5]}"
            )
        self.states = [
            DeviceState(
                serial=serial,
                app_version=app_version,
                unsent_records=random.Random(f"{seed}:{serial}").randint(0, 20),
                behaviour=behaviours.get(serial, WELL_BEHAVED),
            )
            for serial in self.serials
        ]
        self._tokens: list[str | None] = [None] * count
        self._secrets: list[str | None] = [None] * count
        self._challenges: dict[str, Challenge] = {}
        self._random = random.Random(seed)
        self._registration = asyncio.Semaphore(concurrency_limit)
        self._actions = asyncio.Semaphore(concurrency_limit)
        self._downloads = asyncio.Semaphore(download_limit)
        self.staging = staging
        self._link = SharedLink(link_bytes_per_s) if link_bytes_per_s else None
        self._clients: list[httpx.AsyncClient] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._devices: dict[int, SimulatedDevice] = {}
        self._checks: set[asyncio.Task[None]] = set()
        self._check_crashes: list[str] = []
        self.registration_seconds: float | None = None
        self.requests_sent = 0
        """HTTP requests the devices sent (retries included), for ``make bench``."""

    def _client(self, index: int) -> httpx.AsyncClient:
        if not self._clients:
            raise_open_files_limit()
            self._clients = api.build_clients(
                self.gateway_url, len(self.states), shard_size=SHARD_SIZE, wait_s=self.wait_s,
                on_request=self._count_request,
            )
        return self._clients[index // SHARD_SIZE]

    async def _count_request(self, request: httpx.Request) -> None:
        self.requests_sent += 1

    async def register(self) -> None:
        """Register every device (D1), ``concurrency_limit`` at a time.

        Raises ``RegistrationRefused`` at once if the gateway refuses one (wrong site or
        enrolment code), ``GatewayUnavailable`` if it cannot be reached.
        """
        started = time.perf_counter()
        pending = [i for i, token in enumerate(self._tokens) if token is None]
        jobs = [asyncio.create_task(self._register_one(i)) for i in pending]
        try:
            await asyncio.gather(*jobs)
        except BaseException:
            for job in jobs:
                job.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
            raise
        self.registration_seconds = time.perf_counter() - started

    async def _register_one(self, index: int) -> None:
        state = self.states[index]
        body = {
            "site_id": self.site_id,
            "enrolment_code": self.enrolment_code,
            "serial": state.serial,
            "model": self.model,
            "app_version": state.app_version,
            "notifications_enabled": not state.behaviour.notifications_disabled,
            "operator": {"code": f"OP{index % 100:02d}", "name": f"Operator {index % 100:02d}"},
        }
        registration = await api.register(self._client(index), body, limit=self._registration,
                                          secret=self._secrets[index])
        self._tokens[index] = registration.device_token
        self._secrets[index] = registration.device_secret
        state.registered(registration.site_version)

    def token(self, serial: str) -> str | None:
        return self._tokens[self._index(serial)]

    def begin_manual(self, serial: str, action: Action) -> str:
        """Utility > manual block/unblock on the device (D8): returns code 1 it shows."""
        challenge = Challenge.issue(self._random.randrange(10**8), action, time.time())
        self._challenges[serial] = challenge
        return challenge.code1

    def enter_code2(self, serial: str, code2: str) -> str:
        """Type the admin's code 2 on the device: verified offline with the device secret; on
        success the device blocks/unblocks and returns code 3 (``CodeRefused`` otherwise)."""
        index = self.serials.index(serial)
        challenge = self._challenges.get(serial)
        secret = self._secrets[index]
        if challenge is None or secret is None:
            raise ValueError(f"{serial}: no manual block/unblock in progress (begin_manual first)")
        code3 = challenge.answer(secret, code2, time.time())
        state = self.states[index]
        if challenge.action == "block":
            state.manually_blocked()
        else:
            state.manually_unblocked()
        return code3

    def secret(self, serial: str) -> str | None:
        return self._secrets[self.serials.index(serial)]

    async def run(self, *, starts_per_s: float | None = None) -> None:
        """Start one background task per registered device that is not offline, and the
        periodic update checks. ``starts_per_s``: switch the devices on at that rate (ten
        thousand first long-polls at once is a thundering herd no gateway meets in the real
        world); None: all at once."""
        if self._tasks:
            raise RuntimeError("the fleet is already running")
        if starts_per_s is not None and starts_per_s <= 0:
            raise ValueError(f"starts_per_s must be > 0 (or None), got {starts_per_s}")
        for index, state in enumerate(self.states):
            if self._tokens[index] is None or state.behaviour.offline:
                continue
            self._start(index)
            if index % 100 == 99:  # let the first polls go out while the rest start
                await asyncio.sleep(100 / starts_per_s if starts_per_s else 0)
        if self.check_every_s is not None:
            self._tasks.append(
                asyncio.create_task(self._check_periodically(), name="periodic-update-checks")
            )

    def _device(self, index: int) -> SimulatedDevice:
        device = self._devices.get(index)
        if device is None:
            token = self._tokens[index]
            if token is None:
                raise ValueError(f"{self.serials[index]} is not registered (register first)")
            device = self._devices[index] = SimulatedDevice(
                self.states[index],
                self._client(index),
                token,
                action_limit=self._actions,
                download_limit=self._downloads,
                wait_s=self.wait_s,
                link=self._link,
            )
        return device

    def _start(self, index: int, *, back_online: bool = False) -> None:
        device = self._device(index)
        device.running = True
        self._tasks.append(
            asyncio.create_task(
                device.run(back_online=back_online), name=f"device-{device.state.serial}"
            )
        )
        if self.staging:
            self._stage(device)

    def _stage(self, device: SimulatedDevice) -> None:
        self._tasks.append(asyncio.create_task(
            device.stage_in_background(self.check_every_s or DEFAULT_CHECK_EVERY_S),
            name=f"staging-{device.state.serial}"))

    def start_staging(self) -> None:
        """The running devices begin to stage in the background (a fleet started without)."""
        if self.staging:
            return
        self.staging = True
        for device in self._devices.values():
            if device.running:
                self._stage(device)

    def _index(self, serial: str) -> int:
        try:
            return self.serials.index(serial)
        except ValueError:
            raise KeyError(f"no simulated device with serial {serial!r}") from None

    async def bring_online(self, serials: list[str]) -> None:
        """Offline devices come back: each collects what it missed on the push channel and acts
        on it (START, END…), then checks for an update (D10), then works normally."""
        for serial in serials:
            index = self._index(serial)
            if self._tokens[index] is None:
                raise ValueError(f"{serial} is not registered (register first)")
            device = self._devices.get(index)
            if device is not None and device.running:
                continue  # online already
            self.states[index].back_online()
            self._start(index, back_online=True)

    async def hand_in_data(self, serial: str) -> DeviceView:
        """The operator uses "send unsent data" on the device now (D4): POST /sync with the
        update id the device knows (else none); returns the device once the gateway answered
        (a refusal is in ``sync_refused_reason``)."""
        index = self._index(serial)
        await self._device(index).operator_hands_in_data()
        return view_of(self.states[index])

    async def check_for_update(self, serial: str) -> DeviceView:
        """The operator (re)starts the app: GET /update → 200 download, verify, install and
        report the version; 409 → ask again with backoff until released; 204 nothing. Returns
        once that is done."""
        index = self._index(serial)
        await self._device(index).operator_checks_for_update()
        return view_of(self.states[index])

    async def _check_periodically(self) -> None:
        """Every running device asks for an update once per ``check_every_s``, the checks
        spread evenly over that time (one task for the fleet, one short task per check)."""
        assert self.check_every_s is not None
        while True:
            running = [d for d in self._devices.values() if d.running]
            if not running:
                await asyncio.sleep(self.check_every_s)
                continue
            gap = self.check_every_s / len(running)
            for device in running:
                await asyncio.sleep(gap)
                if device.busy or not device.state.periodic_check():
                    continue
                check = asyncio.create_task(device.check_periodically())
                self._checks.add(check)
                check.add_done_callback(self._check_done)

    def _check_done(self, task: asyncio.Task[None]) -> None:
        self._checks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._check_crashes.append(f"periodic check: {task.exception()!r}")

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._checks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._checks.clear()
        for device in self._devices.values():
            device.running = False
        for state in self.states:
            state.connected = False
        clients, self._clients = self._clients, []
        await asyncio.gather(*(client.aclose() for client in clients), return_exceptions=True)

    async def __aenter__(self) -> Fleet:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def crashed(self) -> list[str]:
        """Device tasks that ended with an exception (a simulator bug): 'serial: error'."""
        return [
            f"{task.get_name()}: {task.exception()!r}"
            for task in self._tasks
            if task.done() and not task.cancelled() and task.exception() is not None
        ] + self._check_crashes

    def snapshot(self) -> FleetSnapshot:
        return snapshot_of(self.states)

    async def wait_until(
        self,
        predicate: Callable[[FleetSnapshot], bool],
        timeout: float,
        *,
        interval: float = 0.2,
    ) -> FleetSnapshot:
        """Poll the snapshot until ``predicate`` holds; TimeoutError (with the counts) if not."""
        deadline = time.monotonic() + timeout
        while True:
            snapshot = self.snapshot()
            if predicate(snapshot):
                return snapshot
            crashed = self.crashed()
            if crashed:
                raise RuntimeError(f"simulated devices crashed: {crashed[:3]}")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"fleet condition not met in {timeout}s: {snapshot.summary()}")
            await asyncio.sleep(interval)


def raise_open_files_limit() -> None:
    """Thousands of connections need thousands of file descriptors: use the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = 65536 if hard == resource.RLIM_INFINITY else hard
        with contextlib.suppress(ValueError, OSError):  # as many as the system allows
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
