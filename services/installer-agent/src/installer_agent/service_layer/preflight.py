"""Pre-flight checks, before anything on the host is touched (A2).

First the package: it is in the artifact store (fetched resumably if not) and its sha256
matches the one the command carries (S4). Then every ``PreflightCheck``: the configured desktop
processes are not running, there is enough free disk. All run before ``running`` is recorded,
before the backup and the installer: a refusal leaves the host exactly as it was.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol

from installer_agent.domain.preflight import (
    RunningProcess,
    disk_refusal,
    processes_refusal,
    required_free_bytes,
    still_running,
)
from lockstep_shared.artifacts import (
    ArtifactRejected,
    ArtifactStore,
    ArtifactUnavailable,
    file_sha256,
)
from lockstep_shared.catalogue import InstallRequested, PackageRef

log = logging.getLogger("installer_agent.host")

AGAIN_AFTER_DOWNLOAD = "start the update again to download it anew"


class PreflightFailed(Exception):
    """A check failed: nothing was run; the message says what was wrong."""


class NotIssued(PreflightFailed):
    """The orchestrator did not issue this install command (forged or stale): nothing is run,
    and the command is dropped rather than failed, so it reports nothing about an update and
    leaves no record that would stand in the way of the orchestrator's own command."""


class PreflightCheck(Protocol):
    async def __call__(self, package: PackageRef, package_path: Path) -> None: ...


class CommandCheck(Protocol):
    """A check of the install command itself, before its package is looked at."""

    async def __call__(self, command: InstallRequested) -> None: ...


class Patience:
    """Waiting for a service that cannot be reached right now: backoff from 2 s doubling up
    to 30 s, for at most ``patience_s`` in all."""

    def __init__(self, patience_s: float,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.patience_s = patience_s
        self.sleep = sleep
        self.waited = 0.0
        self.delay = 2.0

    @property
    def spent(self) -> bool:
        return self.waited >= self.patience_s

    async def wait(self) -> None:
        await self.sleep(self.delay)
        self.waited += self.delay
        self.delay = min(self.delay * 2, 30.0)


class PackageFetcher:
    """The verified package file on this host, or ``PreflightFailed`` saying why not.

    A release watcher that cannot be reached (restarting, a network blip) is waited for, with
    backoff, up to ``patience_s``: the install command is not failed for a moment's outage of
    the service that serves the package."""

    def __init__(self, store: ArtifactStore, *, patience_s: float = 180.0,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.store = store
        self.patience_s = patience_s
        self.sleep = sleep

    async def __call__(self, package: PackageRef) -> Path:
        what = f"package {package.product} {package.version}"
        patience = Patience(self.patience_s, self.sleep)
        while True:
            try:
                path = await self._fetch(package, what)
                break
            except ArtifactUnavailable as exc:
                if not exc.transient or patience.spent:
                    raise PreflightFailed(
                        f"{what} could not be fetched from {package.url}"
                        + (f" for {patience.waited:.0f} s" if exc.transient else "")
                        + f": {exc}; check that this host reaches the release watcher and has "
                        "room in its package store, then start the update again") from exc
                log.warning("%s not fetched yet (%s): trying again in %.0f s", what, exc,
                            patience.delay)
                await patience.wait()
        actual = await asyncio.to_thread(file_sha256, path)
        if actual != package.sha256:
            # A stored file that no longer matches its name is useless: remove it so the next
            # fetch downloads a good copy.
            path.unlink(missing_ok=True)
            raise PreflightFailed(
                f"{what} in the artifact store has sha256 {actual}, not the expected "
                f"{package.sha256}; refused before running the installer (the bad file was "
                f"removed); {AGAIN_AFTER_DOWNLOAD}"
            )
        return path

    async def _fetch(self, package: PackageRef, what: str) -> Path:
        try:
            return await self.store.ensure(package.sha256, package.size, package.url)
        except ArtifactUnavailable:
            raise
        except ArtifactRejected as exc:
            raise PreflightFailed(
                f"{what} was rejected while downloading: {exc}; {AGAIN_AFTER_DOWNLOAD}"
            ) from exc
        except Exception as exc:  # unreachable, bad URL, disk full, …: a clear refusal, no crash
            raise PreflightFailed(
                f"{what} could not be fetched from {package.url}: {exc}; check that this host "
                "reaches the release watcher and has room in its package store, then start the "
                "update again"
            ) from exc


class ProcessesStopped:
    """The configured desktop processes (e.g. the product's client on the server host) are not
    running: an installer replacing files they hold open would fail half-way or corrupt them."""

    def __init__(
        self,
        names: Sequence[str],
        list_processes: Callable[[], list[RunningProcess]],
        *,
        own_pid: int | None = None,
    ) -> None:
        self.names = list(names)
        self.list_processes = list_processes
        self.own_pid = os.getpid() if own_pid is None else own_pid

    async def __call__(self, package: PackageRef, package_path: Path) -> None:
        if not self.names:
            return
        try:
            processes = await asyncio.to_thread(self.list_processes)
        except Exception as exc:
            raise PreflightFailed(
                f"could not list the processes running on the server to check that "
                f"{', '.join(self.names)} are closed ({exc}); fix that, then start the update "
                "again"
            ) from exc
        refusal = processes_refusal(still_running(self.names, processes, own_pid=self.own_pid))
        if refusal:
            raise PreflightFailed(refusal)


class EnoughDisk:
    """Enough free space on the filesystem the installer works on: the configured amount, or
    twice the package and at least 100 MB."""

    def __init__(
        self,
        where: Path,
        min_free_disk_mb: int | None,
        free_bytes: Callable[[Path], int],
    ) -> None:
        self.where = where
        self.min_free_disk_mb = min_free_disk_mb
        self.free_bytes = free_bytes

    async def __call__(self, package: PackageRef, package_path: Path) -> None:
        needed = required_free_bytes(package.size, self.min_free_disk_mb)
        try:
            free = await asyncio.to_thread(self.free_bytes, self.where)
        except OSError as exc:
            raise PreflightFailed(
                f"could not read the free disk space of {self.where} ({exc}); check that the "
                "directory exists and is readable by the agent, then start the update again"
            ) from exc
        refusal = disk_refusal(free, needed, str(self.where))
        if refusal:
            raise PreflightFailed(refusal)
