"""The fault matrix: at which step of a coordinated update which fault is injected, the cells
that fail today because of a known defect, and the printed result.

A cell is one distributed update with one fault injected at one step. ``make test`` runs
``SUBSET``; ``make test-faults`` (``LOCKSTEP_FAULTS=all``) runs every cell.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

STEPS = {
    "open": "right after the admin opened the update",
    "phase 1": "right after START UPDATE was sent (devices blocking and handing in)",
    "start": "right after the admin started the server update (install request in flight)",
    "install": "while the installer runs on the host",
    "finish": "right after END UPDATE was sent",
    "download": "while devices download the package (the first one is already on the target)",
}
SERVICES = ("orchestrator", "device-gateway", "release-watcher", "installer-agent")


@dataclass(frozen=True)
class Fault:
    kind: str  # "kill" | "broker" | "database"
    target: str = ""  # the service, for "kill"
    down_s: float = 0

    @property
    def slug(self) -> str:
        if self.kind == "kill":
            return f"kill-{self.target}"
        return f"{'db' if self.kind == 'database' else 'broker'}-{self.down_s:g}s"

    @property
    def title(self) -> str:
        if self.kind == "kill":
            return f"kill -9 {self.target}"
        return f"{self.kind} down {self.down_s:g}s"


FAULTS = (*(Fault("kill", service) for service in SERVICES),
          Fault("broker", down_s=4), Fault("database", down_s=4), Fault("database", down_s=30))


@dataclass(frozen=True)
class Cell:
    step: str
    fault: Fault

    @property
    def id(self) -> str:
        return f"{self.step.replace(' ', '')}-{self.fault.slug}"

    @property
    def known_defect(self) -> str | None:
        return KNOWN_DEFECTS.get((self.step, self.fault.slug))


KNOWN_DEFECTS: dict[tuple[str, str], str] = {}
"""(step, fault slug) → the defect that makes the cell fail today. Such cells are xfail
(not strict): drop the entry when the fix lands, and the cell must pass from then on."""

SUBSET = (
    Cell("phase 1", Fault("kill", "device-gateway")),
    Cell("start", Fault("broker", down_s=4)),
    Cell("finish", Fault("database", down_s=4)),
)
"""The representative cells ``make test`` runs: a process crash, a broker restart and a
database restart, at three different steps."""


def cells(full: bool) -> list[Cell]:
    if not full:
        return list(SUBSET)
    return [Cell(step, fault) for step in STEPS for fault in FAULTS]


def full_matrix_requested() -> bool:
    return os.environ.get("LOCKSTEP_FAULTS", "").lower() in ("all", "full", "1")


@dataclass
class Result:
    cell: Cell
    problems: list[str]
    seconds: float

    @property
    def status(self) -> str:
        known = self.cell.known_defect is not None
        if self.problems:
            return "xfail" if known else "FAIL"
        return "XPASS" if known else "pass"

    @property
    def reason(self) -> str:
        if self.problems:
            return "; ".join(self.problems)
        if self.cell.known_defect:
            return "passes although listed in KNOWN_DEFECTS: drop the entry if the fix landed"
        return ""


@dataclass
class Matrix:
    """Results as they come; ``render()`` is the step × fault table plus the reasons."""

    path: Path
    results: dict[str, Result] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def record(self, result: Result) -> None:
        self.results[result.cell.id] = result
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(self.render() + "\n")

    def render(self) -> str:
        faults = [f for f in FAULTS if any(r.cell.fault == f for r in self.results.values())]
        steps = [s for s in STEPS if any(r.cell.step == s for r in self.results.values())]
        header = ["step \\ fault", *(f.title for f in faults)]
        rows = [header, ["---"] * len(header)]
        for step in steps:
            row = [step]
            for fault in faults:
                result = self.results.get(Cell(step, fault).id)
                row.append(f"{result.status} ({result.seconds:.0f}s)" if result else "-")
            rows.append(row)
        lines = ["| " + " | ".join(row) + " |" for row in rows]
        total = sum(r.seconds for r in self.results.values())
        lines.append("")
        lines.append(f"{len(self.results)} cells, {total:.0f}s in cells.")
        notes = [r for r in self.results.values() if r.reason]
        if notes:
            lines.append("")
            for r in notes:
                lines.append(f"- {r.cell.id}: {r.status}: {r.reason}")
        return "\n".join(lines)
