"""What admins (and support) ask of an update. Ids and actors are passed in, never made here.

A command whose rule looks at the site's devices (start the server update, force, conclude)
carries the fleet summary itself (``fleet=``, required): the handler that makes the command
cannot forget to read it."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.domain.model import FleetSummary


@dataclass(frozen=True, slots=True)
class OpenUpdate:
    """U2: "Manage update" with the backup warning confirmed."""

    update_id: str
    site_id: str
    product: str
    backups_confirmed: bool
    actor: str
    challenge: str | None = None  # U13: shown if the release needs a confirmation code


@dataclass(frozen=True, slots=True)
class NewChallenge:
    """U13: "Manage update" opened again while awaiting the code: a fresh challenge."""

    actor: str
    challenge: str


@dataclass(frozen=True, slots=True)
class SubmitConfirmationCode:
    """U13: the response the vendor gave for the challenge (checked against the licence)."""

    actor: str
    response: str
    license_key: str


@dataclass(frozen=True, slots=True)
class SendStart:
    """U4: push START UPDATE to every enabled device (serials None) or again to some."""

    request_id: str
    actor: str
    serials: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class StartServerUpdate:
    """U6: phase 2, only when every enabled device is waiting for update."""

    actor: str
    waiting_serials: tuple[str, ...] = ()
    fleet: FleetSummary = field(kw_only=True)


@dataclass(frozen=True, slots=True)
class RequestForce:
    """U7, first authorization: an admin asks to start without every device waiting."""

    actor: str
    fleet: FleetSummary = field(kw_only=True)


@dataclass(frozen=True, slots=True)
class ApproveForce:
    """U7, second authorization: a different admin, or (on a site with exactly one admin)
    the same admin with the password re-entered (verified before this command is made)."""

    actor: str
    site_admins: int
    password_reentered: bool = False
    waiting_serials: tuple[str, ...] = ()
    fleet: FleetSummary = field(kw_only=True)


@dataclass(frozen=True, slots=True)
class SendEnd:
    """U9: push END UPDATE (phase 3); the first one releases the devices."""

    request_id: str
    actor: str
    serials: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Conclude:
    """U11: finish the update; with devices not yet updated only when confirmed."""

    actor: str
    confirm_not_updated: bool = False
    fleet: FleetSummary = field(kw_only=True)


@dataclass(frozen=True, slots=True)
class Cancel:
    """U2: close the update before any device was notified."""

    actor: str


@dataclass(frozen=True, slots=True)
class ReactivateDevices:
    """U12: after a failure, push ERROR UPDATE to every device so they resume work."""

    request_id: str
    actor: str


@dataclass(frozen=True, slots=True)
class ResolveFailure:
    """U12: the vendor's support marked the failure resolved; the site may update again."""

    actor: str


Command = (
    NewChallenge
    | SubmitConfirmationCode
    | SendStart
    | StartServerUpdate
    | RequestForce
    | ApproveForce
    | SendEnd
    | Conclude
    | Cancel
    | ReactivateDevices
    | ResolveFailure
)
