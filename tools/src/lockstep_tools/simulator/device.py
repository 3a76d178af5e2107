"""One simulated device at work: executes what its state machine decides, over HTTP.

A device keeps its long-poll open and, when notifications arrive, acts on them (acknowledge,
block, hand in data, fetch, download, report) before polling again. Beside the push channel it
does one thing at a time (a lock): what the push asked, a periodic check for an update, or what
its operator asks (send unsent data, restart the app). Misbehaviours: ``slow`` waits before
acting, ``never_ack`` only looks, ``offline`` never runs at all (the fleet does not start it
until it is brought online), ``notifications_disabled`` never opens the push channel.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx

from lockstep_tools.simulator import gateway_api as api
from lockstep_tools.simulator.device_state import (
    Acknowledge,
    Acknowledged,
    BlockedReported,
    BlockRefused,
    Command,
    DataHandedIn,
    DeviceState,
    Directive,
    DirectiveReceived,
    Disabled,
    Download,
    DownloadFailed,
    DownloadStale,
    DownloadVerified,
    FetchDirective,
    HandInData,
    NothingToInstall,
    Notification,
    ReportBlocked,
    ReportVersion,
    RequestFailed,
    Result,
    SyncNamedUnknownUpdate,
    SyncRefused,
    UpdateInPreparation,
    VersionReported,
)
from lockstep_tools.simulator.link import SharedLink

log = logging.getLogger("lockstep.simulator")

POLL_BACKOFF_CAP_S = 30.0
PREFIX = api.PREFIX


class SimulatedDevice:
    def __init__(
        self,
        state: DeviceState,
        client: httpx.AsyncClient,
        token: str,
        *,
        action_limit: AbstractAsyncContextManager[Any],
        download_limit: AbstractAsyncContextManager[Any],
        wait_s: int = 25,
        link: SharedLink | None = None,
    ) -> None:
        self.state = state
        self.client = client
        self.token = token
        self.action_limit = action_limit
        self.download_limit = download_limit
        self.wait_s = wait_s
        self.link = link
        self._busy = asyncio.Lock()
        self.running = False
        """Its app runs (the fleet started it): it takes part in the periodic checks."""

    @property
    def busy(self) -> bool:
        """Doing something already (a periodic check then waits for the next round)."""
        return self._busy.locked()

    async def run(self, *, back_online: bool = False) -> None:
        """Start the app (D10 check), then keep the push channel open until cancelled.

        ``back_online``: the device was offline; it first collects what it missed on the push
        channel and acts on it (START, END…), then checks for an update like any app start.
        """
        if back_online and not self.state.behaviour.notifications_disabled:
            await self._poll_and_act(wait_s=0, failures=0)
        await self.act(self.state.started())
        if self.state.behaviour.notifications_disabled:
            return  # no push channel: the fleet's periodic checks and the operator drive it
        failures = 0
        while self.state.phase != "disabled":
            try:
                failures = await self._poll_and_act(self.wait_s, failures)
            except Exception as exc:  # a bug or an answer it cannot read: survive, report, retry
                failures += 1
                log.exception("%s: long-poll round failed", self.state.serial)
                await self._poll_failed(f"long-poll: {type(exc).__name__}: {exc}", failures)

    async def _poll_and_act(self, wait_s: float, failures: int) -> int:
        """One long-poll and what follows from it; returns the consecutive failures."""
        self.state.connected = True
        try:
            response = await self.client.get(
                f"{PREFIX}/notifications",
                params={"wait": wait_s},
                headers={"Authorization": f"Bearer {self.token}"},
            )
        except httpx.TransportError as exc:
            await self._poll_failed(f"long-poll: {type(exc).__name__}: {exc}", failures + 1)
            return failures + 1
        if response.status_code == 403:
            self.state.apply(Disabled(api.error_detail(response)))
            return 0
        if response.status_code != 200:
            await self._poll_failed(f"long-poll: {api.error_detail(response)}", failures + 1)
            return failures + 1
        notifications = _parse_notifications(response.json())
        commands = self.state.receive(notifications)
        if not commands:
            if notifications and wait_s:  # only ones it will not act on (never_ack): no spin
                await asyncio.sleep(wait_s)
            return 0
        if self.state.behaviour.slow_s:
            await asyncio.sleep(self.state.behaviour.slow_s)
        await self.act(commands)
        return 0

    async def act(self, commands: list[Command]) -> None:
        """Execute commands (and what follows from them) one thing at a time."""
        if not commands:
            return
        async with self._busy:
            await self.perform(commands)

    async def check_periodically(self) -> None:
        """One periodic check for an update (skipped when the device is busy)."""
        if not self.busy:
            await self.act(self.state.periodic_check())

    async def operator_checks_for_update(self) -> None:
        """The operator restarts the app: wait until the directive is dealt with."""
        async with self._busy:
            await self.perform(self.state.operator_checks_for_update())

    async def operator_hands_in_data(self) -> None:
        """The operator uses "send unsent data": wait for the gateway's answer."""
        async with self._busy:
            await self.perform(self.state.operator_hands_in_data())

    async def stage_in_background(self, idle_s: float) -> None:
        """Staging (issue 14 §2), beside the device's work: ask for a slot; 204 nothing to
        stage → ask again in ``idle_s``; 429 every slot taken → after its Retry-After; 200 →
        download the package (resumable, verified), report it staged, and look again later."""
        while self.state.phase != "disabled":
            wait = idle_s
            if self.state.may_stage:
                try:
                    wait = await self._stage_once(idle_s)
                except Exception as exc:  # this device's error, not its end: retry later
                    self.state.errors += 1
                    self.state.last_error = f"staging: {type(exc).__name__}: {exc}"
            await asyncio.sleep(wait)

    async def _stage_once(self, idle_s: float) -> float:
        """One staging attempt; how long to wait before the next."""
        response = await api.call(self.client, "POST", f"{PREFIX}/staging", token=self.token,
                                  limit=self.action_limit, retry_busy=False)
        if response.status_code == 429:
            return float(response.headers.get("Retry-After") or idle_s)
        if response.status_code != 200:
            return idle_s
        package = api.parse_staging(response.json())
        async with self.download_limit:
            try:
                await api.download(self.client, self.token, package, interrupt_once=False,
                                   link=self.link)
            except api.DirectiveStale:
                return 1.0  # the slot ended or the offer changed: ask again soon
        response = await self._call("POST", "/staged", {"sha256": package.sha256})
        if response.status_code in (200, 204):
            self.state.package_staged(package)
        return idle_s

    async def _poll_failed(self, detail: str, failures: int) -> None:
        self.state.connected = False
        self.state.errors += 1
        self.state.last_error = detail
        await asyncio.sleep(min(0.5 * 2 ** min(failures, 8), POLL_BACKOFF_CAP_S))

    async def perform(self, commands: list[Command]) -> None:
        """Execute commands in order; each result may add more commands. A command that fails
        in any way is a ``RequestFailed`` the state machine decides on (retry or give up): the
        device itself keeps running."""
        pending = list(commands)
        while pending:
            command = pending.pop(0)
            try:
                result = await self.execute(command)
            except api.GatewayUnavailable as exc:
                result = RequestFailed(command, str(exc))
            except Exception as exc:  # anything unexpected is this device's error, not its end
                log.exception("%s: %s failed unexpectedly", self.state.serial,
                              type(command).__name__)
                result = RequestFailed(command, f"unexpected {type(exc).__name__}: {exc}")
            pending[:0] = self.state.apply(result)

    async def execute(self, command: Command) -> Result:
        match command:
            case Acknowledge(notification_id):
                response = await self._call("POST", f"/notifications/{notification_id}/ack")
                if response.status_code in (200, 204):
                    return Acknowledged(notification_id)
            case ReportBlocked(update_id):
                response = await self._call("POST", "/blocked", {"update_id": update_id})
                if response.status_code in (200, 204):
                    return BlockedReported(update_id)
                if response.status_code == 409:
                    return BlockRefused(api.error_detail(response))
            case HandInData(update_id, records):
                body = {"update_id": update_id, "records": records}
                response = await self._call("POST", "/sync", body)
                if response.status_code == 200:
                    return DataHandedIn(bool(response.json().get("waiting_for_update")))
                if response.status_code == 409 and update_id is not None and (
                        api.error_code(response) == "not_active_update"):
                    return SyncNamedUnknownUpdate()
                if response.status_code == 409:
                    return SyncRefused(api.error_detail(response))
            case FetchDirective(delay_s):
                if delay_s:
                    await asyncio.sleep(delay_s)
                response = await self._call("GET", "/update")
                if response.status_code == 200:
                    return DirectiveReceived(api.parse_directive(response.json()))
                if response.status_code == 204:
                    return NothingToInstall()
                if response.status_code == 409:
                    return UpdateInPreparation()
            case Download(directive, interrupt_once):
                return await self._download(directive, interrupt_once)
            case ReportVersion(version):
                response = await self._call("POST", "/version", {"app_version": version})
                if response.status_code in (200, 204):
                    return VersionReported(version)
        if response.status_code == 403:
            return Disabled(api.error_detail(response))
        return RequestFailed(command, api.error_detail(response))

    async def _call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return await api.call(
            self.client,
            method,
            f"{PREFIX}{path}",
            token=self.token,
            json=body,
            limit=self.action_limit,
        )

    async def _download(self, directive: Directive, interrupt_once: bool) -> Result:
        async with self.download_limit:
            try:
                resumes = await api.download(
                    self.client, self.token, directive, interrupt_once=interrupt_once,
                    link=self.link)
            except api.DirectiveStale as exc:
                return DownloadStale(str(exc))
            except api.DownloadProblem as exc:
                return DownloadFailed(str(exc))
        return DownloadVerified(directive, resumes)


def _parse_notifications(body: Any) -> list[Notification]:
    items = body.get("notifications", []) if isinstance(body, dict) else []
    return [
        Notification(id=str(item["id"]), kind=str(item["kind"]), update_id=item.get("update_id"))
        for item in items
        if isinstance(item, dict) and "id" in item and "kind" in item
    ]
