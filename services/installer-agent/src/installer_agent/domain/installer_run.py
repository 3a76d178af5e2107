"""A detached installer run as the host shows it (A6): its files in the agent's state directory,
its launch record and, after an agent restart, what is left of it. ``adapters.detached_installer``
writes and reads these files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


def file_base(update_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", update_id)


@dataclass(frozen=True, slots=True)
class InstallerFiles:
    log: Path
    launch: Path
    pids: Path
    status: Path

    @classmethod
    def of(cls, logs_dir: Path, update_id: str) -> InstallerFiles:
        base = logs_dir / file_base(update_id)
        return cls(
            log=base.with_name(base.name + ".log"),
            launch=base.with_name(base.name + ".installer.json"),
            pids=base.with_name(base.name + ".installer.pids"),
            status=base.with_name(base.name + ".installer.status"),
        )


@dataclass(frozen=True, slots=True)
class Launch:
    """The launch record: the installer's output starts at ``offset`` in the log; it started
    at ``started_at`` (seconds since the epoch: it must mean the same after a restart) and is
    killed ``timeout_s`` later."""

    offset: int
    started_at: float
    timeout_s: float

    @property
    def deadline(self) -> float:
        return self.started_at + self.timeout_s


@dataclass(frozen=True, slots=True)
class InstallerTrace:
    """What the host shows of an install's installer after an agent restart."""

    launch: Launch | None  # None: the installer was never launched
    exit_code: int | None  # its exit status, once it has one
    running: bool  # its launcher is still there
