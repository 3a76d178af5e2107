"""How the coordinated update looks to a device agent speaking Eclipse hawkBit's DDI v1 (D14).

Pure: no I/O, no clock. A DDI device is a device like any other (D1-D10); only the words differ.
The gateway offers it at most one deployment at a time, an *action* with an integer id, and reads
its feedback:

- Phase 1 (and 2): with the model's waiting rule ``staged``, the update's package with
  ``download: forced``, ``update: skip``, ``maintenanceWindow: unavailable`` — the agent stages it
  while the device works, and its feedback ``downloaded`` makes it "waiting for update" (it has no
  data of its own to hand in). With the rule ``admin`` (the default) nothing is offered: an agent
  that ignores ``update: skip`` (rauc-hawkbit installs whatever it is offered) must never see the
  package before END; the site admin blocks the device once it is stopped.
- Phase 3 after END: ``update: forced``, window ``available``: ``closed/success`` is the
  device's version report (D7); ``closed/failure`` keeps the agent's details for the grid.
- ERROR UPDATE (the server install failed): an open action is cancelled (``cancelAction``).
- Outside an update: the site's version (D10, downgrade included) as a forced deployment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from device_gateway.domain import updates as rules
from device_gateway.domain.updates import Package, Phase, SiteUpdate
from lockstep_shared.versions import MAX_LENGTH as MAX_VERSION_LENGTH
from lockstep_shared.versions import Version


class Handling(StrEnum):
    """``deployment.download`` / ``deployment.update`` in DDI."""

    SKIP = "skip"
    ATTEMPT = "attempt"
    FORCED = "forced"


class Waiting(StrEnum):
    """What "waiting for update" means for a DDI device of a model (the site admin's choice)."""

    STAGED = "staged"  # its feedback `downloaded` in phase 1: the agent honours `update: skip`
    ADMIN = "admin"  # the site admin blocks it once it is stopped (the safe default)


class Purpose(StrEnum):
    UPDATE = "update"  # the site's coordinated update (phases 1 and 3)
    SITE_VERSION = "site_version"  # D10: catch up with the site's version


class Outcome(StrEnum):
    """What one feedback means for Lockstep."""

    PROGRESS = "progress"  # proceeding / scheduled / resumed / download: nothing final
    STAGED = "staged"  # `downloaded` of a staging deployment: the package is on the device
    INSTALLED = "installed"  # closed/success of a forced deployment: the version report (D7)
    SKIPPED = "skipped"  # closed/success of a staging deployment: the agent cannot stage
    FAILED = "failed"  # closed/failure: the install failed, with the agent's details
    REJECTED = "rejected"  # the agent refused the action
    CANCELED = "canceled"  # the agent confirmed a cancellation


EXECUTIONS = frozenset({"closed", "proceeding", "canceled", "scheduled", "rejected", "resumed",
                        "downloaded", "download"})
RESULTS = frozenset({"success", "failure", "none"})

VERSION_ATTRIBUTES = ("app_version", "version", "sw_version", "swVersion", "software_version")
"""configData attributes read as the device's installed version, first found wins."""


@dataclass(frozen=True, slots=True)
class Digests:
    """The hashes DDI agents check a package by: SWUpdate sha1, rauc-hawkbit md5."""

    sha1: str
    md5: str
    sha256: str


@dataclass(frozen=True, slots=True)
class Deployment:
    """The deployment a DDI device is shown now (``deploymentBase``)."""

    package: Package
    purpose: Purpose
    update_id: str | None
    download: Handling
    update: Handling
    maintenance_window: str | None = None  # "available" / "unavailable"; None = no window

    @property
    def stages_only(self) -> bool:
        return self.update is Handling.SKIP

    def resource(self, action_id: int) -> str:
        """The ``c`` query parameter of the deploymentBase link: it changes whenever what the
        deployment asks for changes, so agents fetch it again."""
        text = f"{action_id}:{self.download}:{self.update}:{self.maintenance_window}"
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Action:
    """A deployment once shown to the device: what the gateway remembers of it."""

    action_id: int
    purpose: Purpose
    update_id: str | None
    sha256: str
    closed: Outcome | None = None  # INSTALLED / SKIPPED / FAILED / REJECTED / CANCELED
    staged: bool = False
    cancel_requested: bool = False

    @property
    def open(self) -> bool:
        return self.closed is None

    def matches(self, deployment: Deployment) -> bool:
        return (self.purpose is deployment.purpose and self.update_id == deployment.update_id
                and self.sha256 == deployment.package.sha256)


def decide_deployment(update: SiteUpdate | None, *, app_version: str, waiting: Waiting,
                      site_package: Package | None = None) -> Deployment | None:
    """What a DDI device is offered now (None = nothing to do)."""
    if update is not None and update.phase in (Phase.PREPARING, Phase.SERVER_UPDATING):
        if (waiting is Waiting.ADMIN or update.package is None
                or _same(app_version, update.package.version)):
            return None
        return Deployment(update.package, Purpose.UPDATE, update.update_id,
                          download=Handling.FORCED, update=Handling.SKIP,
                          maintenance_window="unavailable")
    directive = rules.decide_directive(update, app_version=app_version,
                                       site_package=site_package)
    if directive.package is None:
        return None
    purpose = (Purpose.UPDATE if directive.reason == rules.REASON_UPDATE
               else Purpose.SITE_VERSION)
    window = "available" if waiting is Waiting.STAGED else None
    return Deployment(directive.package, purpose, directive.update_id, download=Handling.FORCED,
                      update=Handling.FORCED, maintenance_window=window)


@dataclass(frozen=True, slots=True)
class Shown:
    """The action that carries the deployment: a known one, or ``new`` (create one)."""

    action: Action | None = None
    new: bool = False

    @property
    def nothing(self) -> bool:
        return self.action is None and not self.new


def action_to_show(deployment: Deployment | None, actions: list[Action], *,
                   end_pushed_after_failure: bool = False) -> Shown:
    """Which action carries ``deployment``: an open one that matches, else a new one — or
    nothing.

    A closed action is never shown again (hawkBit semantics: the agent would install it twice).
    After a failure or a skipped staging a new action is created for the same package only when
    the situation changed: a staging deployment that was skipped is not offered again (the agent
    cannot stage), an install that failed is offered again only after a new END UPDATE for this
    device (U9: "again to one")."""
    if deployment is None:
        return Shown()
    for action in actions:
        if action.open and action.matches(deployment):
            return Shown(action)
    for action in actions:
        if not action.matches(deployment):
            continue
        if action.closed is Outcome.SKIPPED and deployment.stages_only:
            return Shown()
        if action.closed is Outcome.FAILED and not end_pushed_after_failure:
            return Shown()
        if action.closed is Outcome.INSTALLED:
            return Shown()
    return Shown(new=True)


def to_cancel(update: SiteUpdate | None, actions: list[Action]) -> Action | None:
    """ERROR UPDATE: the open action of the failed (or cancelled) update, if any."""
    if update is None or update.phase not in (Phase.FAILED, Phase.CANCELLED):
        return None
    for action in actions:
        if action.open and action.purpose is Purpose.UPDATE and action.update_id == (
                update.update_id):
            return action
    return None


class FeedbackRefused(ValueError):
    """A feedback that is not DDI: its ``code`` names what was wrong."""

    def __init__(self, detail: str, code: str = "invalid_feedback") -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


def interpret_feedback(action: Action, *, served_update: Handling | None, execution: str,
                       finished: str) -> Outcome:
    """What a deployment feedback means. ``served_update`` is the ``update`` handling the
    device was last shown for this action: ``closed/success`` after ``skip`` is a skip (SWUpdate
    answers a staging deployment so), never a version report."""
    _check(execution, finished)
    if execution == "closed":
        if finished == "failure":
            return Outcome.FAILED
        if served_update is Handling.SKIP:
            return Outcome.SKIPPED
        return Outcome.INSTALLED
    if execution == "downloaded":
        return Outcome.STAGED if served_update is Handling.SKIP else Outcome.PROGRESS
    if execution == "rejected":
        return Outcome.REJECTED
    if execution == "canceled":
        return Outcome.CANCELED
    return Outcome.PROGRESS


def interpret_cancel_feedback(execution: str, finished: str) -> Outcome:
    """The agent's answer to a cancelAction: confirmed (``canceled``, or ``closed`` as SWUpdate
    sends it), refused (``rejected``: rauc-hawkbit cannot cancel), or not final yet."""
    _check(execution, finished)
    if execution in ("canceled", "closed"):
        return Outcome.CANCELED if finished != "failure" else Outcome.REJECTED
    if execution == "rejected":
        return Outcome.REJECTED
    return Outcome.PROGRESS


def _check(execution: str, finished: str) -> None:
    if execution not in EXECUTIONS:
        raise FeedbackRefused(f"status.execution {execution!r} is not one of "
                              f"{', '.join(sorted(EXECUTIONS))}")
    if finished not in RESULTS:
        raise FeedbackRefused(f"status.result.finished {finished!r} is not one of "
                              f"{', '.join(sorted(RESULTS))}")


def counts_as_waiting(outcome: Outcome, *, waiting: Waiting, action: Action,
                      update: SiteUpdate | None) -> bool:
    """A staged package makes the device "waiting for update" only where the model's rule says
    so, for the site's update still in phase 1 (issue 9 §1: blocked and handed in)."""
    return (outcome is Outcome.STAGED and waiting is Waiting.STAGED
            and update is not None and update.phase is Phase.PREPARING
            and action.purpose is Purpose.UPDATE and action.update_id == update.update_id)


def version_reported(outcome: Outcome, package_version: str) -> str | None:
    """``closed/success`` of a forced deployment is the device's version report (D7)."""
    return package_version if outcome is Outcome.INSTALLED else None


def version_in_attributes(attributes: Mapping[str, str]) -> str | None:
    """The installed version an agent states in its configData, if it states one: a value
    that is no version (``"build #7"``) is an attribute like any other, never a report."""
    for key in VERSION_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str) and _is_version(value.strip()):
            return value.strip()
    return None


def _is_version(text: str) -> bool:
    try:
        Version.parse(text)
    except ValueError:
        return False
    return 0 < len(text) <= MAX_VERSION_LENGTH


def polling_sleep(seconds: float) -> str:
    """``config.polling.sleep``: ``HH:MM:SS`` (at least one second, at most a day)."""
    total = min(max(round(seconds), 1), 86_399)
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


NOTE_SEPARATOR = " | "


def details_note(details: list[str], *, limit: int = 8, width: int = 300) -> str:
    """The agent's details lines for the grid's notes: the last few, each shortened."""
    lines = [" ".join(line.split())[:width] for line in details if line and line.strip()]
    return NOTE_SEPARATOR.join(lines[-limit:])


def failure_note(earlier: str | None, closing: list[str]) -> str:
    """The grid's note of a ``closed/failure``: the agent's lines before it and its closing
    lines, the last few. SWUpdate reports the installer's errors (``ERROR : SW not compatible
    with hardware``) as progress and closes with a summary (``No suitable .swu image found``);
    rauc-hawkbit reports RAUC's ``LastError`` as progress, then closes with the result."""
    lines = earlier.split(NOTE_SEPARATOR) if earlier else []
    return details_note([*lines, *closing])


def _same(a: str, b: str) -> bool:
    try:
        return Version.parse(a) == Version.parse(b)
    except ValueError:
        return a == b


@dataclass(frozen=True, slots=True)
class DdiDevice:
    """What the DDI endpoint needs of a device beyond its ``DeviceContext``."""

    agent: str | None
    model: str
    waiting: Waiting
    artifact_suffix: str
    attributes_at: datetime | None
    last_end_at: datetime | None  # its newest END UPDATE notification (U9: again to one)


@dataclass(frozen=True, slots=True)
class StoredAction:
    action: Action
    package: Package
    served_update: Handling | None
    closed_at: datetime | None
    details: str | None = None  # the agent's last details lines (joined by " | ")


@dataclass(frozen=True, slots=True)
class ModelRule:
    """A device model's DDI rule at a site, as the site admin sees it."""

    model: str
    waiting: Waiting
    artifact_suffix: str
    devices: int  # the site's DDI devices of this model
    chosen: bool  # False: the defaults (admin, .swu), never set by the admin


MAX_JOIN_REQUESTS = 50  # per site: a leaked GatewayToken fills the list, never the database


@dataclass(frozen=True, slots=True)
class JoinRequest:
    """An unknown serial that presented its site's GatewayToken."""

    serial: str
    first_seen_at: datetime
    last_seen_at: datetime


class PackageChanged(Exception):
    """The stored package no longer has the sha256 it was verified with."""
