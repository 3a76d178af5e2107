"""What admins (and support) ask of an update. Ids and actors are passed in, never made here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OpenUpdate:
    """U2: "Manage update" with the backup warning confirmed."""

    update_id: str
    site_id: str
    product: str
    backups_confirmed: bool
    actor: str


@dataclass(frozen=True, slots=True)
class AcceptConfirmationCode:
    """U13: the vendor's response code was verified; the update may enter phase 1."""

    actor: str


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


@dataclass(frozen=True, slots=True)
class ForceServerUpdate:
    """U7: phase 2 without every device waiting; two distinct admins, or one admin who
    re-entered the password (a site with a single admin), both recorded."""

    actor: str
    second_actor: str | None
    waiting_serials: tuple[str, ...] = ()
    reconfirmed_with_password: bool = False


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
    AcceptConfirmationCode
    | SendStart
    | StartServerUpdate
    | ForceServerUpdate
    | SendEnd
    | Conclude
    | Cancel
    | ReactivateDevices
    | ResolveFailure
)
