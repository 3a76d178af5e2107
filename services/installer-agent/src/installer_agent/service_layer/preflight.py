"""Pre-flight checks, before anything on the host is touched (A2).

Today: the package is in the artifact store (fetched resumably if not) and its sha256 matches
the one the command carries (S4). Further checks (desktop processes not running, free disk)
are more ``PreflightCheck``s run in the same place, before the backup and the installer.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Protocol

from lockstep_shared.artifacts import (
    ArtifactRejected,
    ArtifactStore,
    ArtifactUnavailable,
    file_sha256,
)
from lockstep_shared.catalogue import PackageRef

log = logging.getLogger("installer_agent.host")


class PreflightFailed(Exception):
    """A check failed: nothing was run; the message says what was wrong."""


class PreflightCheck(Protocol):
    async def __call__(self, package: PackageRef, package_path: Path) -> None: ...


class PackageFetcher:
    """The verified package file on this host, or ``PreflightFailed`` saying why not."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    async def __call__(self, package: PackageRef) -> Path:
        what = f"package {package.product} {package.version}"
        try:
            path = await self.store.ensure(package.sha256, package.size, package.url)
        except ArtifactRejected as exc:
            raise PreflightFailed(f"{what} was rejected while downloading: {exc}") from exc
        except ArtifactUnavailable as exc:
            raise PreflightFailed(f"{what} could not be fetched from {package.url}: {exc}") from exc
        except Exception as exc:  # bad URL, disk full, …: still a clear refusal, never a crash
            raise PreflightFailed(f"{what} could not be fetched from {package.url}: {exc}") from exc
        actual = await asyncio.to_thread(file_sha256, path)
        if actual != package.sha256:
            # A stored file that no longer matches its name is useless: remove it so the next
            # fetch downloads a good copy.
            path.unlink(missing_ok=True)
            raise PreflightFailed(
                f"{what} in the artifact store has sha256 {actual}, not the expected "
                f"{package.sha256}; refused before running the installer (the bad file was "
                "removed)"
            )
        return path
