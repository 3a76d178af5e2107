"""Is an install command tied to the site's open update? (issue 10, end to end)

Anyone able to put a message on the bus could send an install command; what counts is the
orchestrator's own record of the update, read by the agent over the orchestrator's internal API:
the command is carried out only if that update exists at this agent's site, is in its
server-install phase, and names the same package (product, version, sha256, size). When the
orchestrator cannot answer, the record's reader raises ``OrchestratorUnavailable``.
"""

from __future__ import annotations

from dataclasses import dataclass

from lockstep_shared.catalogue import InstallRequested, PackageRef

INSTALLING = "server_updating"
"""The orchestrator's state of an update whose server is being installed (phase 2)."""


@dataclass(frozen=True, slots=True)
class UpdateOnRecord:
    """An update as the orchestrator recorded it."""

    update_id: str
    state: str
    package: PackageRef


def _identity(package: PackageRef) -> tuple[str, str, str, int]:
    return package.product, package.version, package.sha256, package.size


def open_update_refusal(site_id: str, command: InstallRequested,
                        on_record: UpdateOnRecord | None) -> str | None:
    """Why the command must not be carried out, or None when the orchestrator issued it."""
    update = f"update {command.update_id}"
    nothing = "nothing was downloaded or run"
    if on_record is None:
        return (f"the orchestrator has no {update} at site {site_id}: the install command was "
                f"not issued by it (forged or misrouted); {nothing}")
    if on_record.state != INSTALLING:
        return (f"{update} of site {site_id} is {on_record.state!r} at the orchestrator, not in "
                f"its server-install phase; the install command is forged or stale; {nothing}")
    if _identity(command.package) != _identity(on_record.package):
        asked, meant = command.package, on_record.package
        return (f"the install command names {asked.product} {asked.version} (sha256 "
                f"{asked.sha256}, {asked.size} bytes) but {update} is for {meant.product} "
                f"{meant.version} (sha256 {meant.sha256}, {meant.size} bytes) at the "
                f"orchestrator; the command is forged; {nothing}")
    return None


class OrchestratorUnavailable(Exception):
    """The orchestrator could not answer; ``transient``: worth asking again shortly."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient
