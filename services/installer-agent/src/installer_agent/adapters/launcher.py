"""The installer's launcher: ``python -m installer_agent.adapters.launcher PIDS STATUS -- ARGV…``.

The agent starts this small process in a session of its own, its output appended to the
install's log file; it starts ARGV in a process group of its own (so a timeout kills exactly
the installer and its children), writes both pids to PIDS, waits, and writes the installer's
exit status to STATUS (negative: killed by that signal). Nothing ties it to the agent: a
``kill -9`` of the agent, or of its whole process group, leaves the install running and its
outcome on disk, for the restarted agent to pick up.

It shrugs off SIGTERM, SIGINT and SIGHUP (whoever sends them to the launcher wants the
installer stopped: they are passed on to it), so the status is always written unless the
launcher itself is SIGKILLed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

NOT_STARTED = 127  # as a shell says "command not found"


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a reader never sees half a file)."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def _new_group() -> dict[str, object]:
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}  # type: ignore[attr-defined]
    return {"process_group": 0}


def run(pids_path: Path, status_path: Path, argv: list[str]) -> int:
    started: list[subprocess.Popen[bytes]] = []

    def pass_on(signum: int, _frame: FrameType | None) -> None:
        for child in started:
            try:
                child.send_signal(signum)
            except OSError:  # that process has already exited: nothing to pass on
                continue

    # Handlers (not SIG_IGN) are reset to the default in the installer by exec.
    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), pass_on)
    try:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **_new_group())  # type: ignore[call-overload]
    except OSError as exc:
        print(f"cannot start {argv[0]!r}: {exc.strerror or exc}", flush=True)
        write_atomically(pids_path, json.dumps({"launcher": os.getpid(), "installer": None}))
        write_atomically(status_path, f"{NOT_STARTED}\n")
        return NOT_STARTED
    started.append(child)
    write_atomically(pids_path, json.dumps({"launcher": os.getpid(), "installer": child.pid}))
    code = child.wait()
    write_atomically(status_path, f"{code}\n")
    return 0


def main(args: list[str] | None = None) -> int:
    args = sys.argv[1:] if args is None else args
    if len(args) < 4 or args[2] != "--":
        print("usage: python -m installer_agent.adapters.launcher PIDS STATUS -- ARGV…",
              file=sys.stderr)
        return 2
    return run(Path(args[0]), Path(args[1]), args[3:])


if __name__ == "__main__":
    sys.exit(main())
