"""What a decision of the update saga produces: the new state, the messages to publish, the
effects on the orchestrator's own tables (the service layer carries them out), and, for a
wrong confirmation code, the refusal to tell the admin while the attempt is saved."""

from __future__ import annotations

from dataclasses import dataclass

from lockstep_shared.catalogue import Message
from orchestrator.domain.model import Update


@dataclass(frozen=True, slots=True)
class ResetDeviceFlags:
    """A new update begins: every device of the site starts with clean per-update flags."""

    update_id: str


@dataclass(frozen=True, slots=True)
class SettleDevices:
    """The update ended (concluded or resolved): its notifications' outcomes no longer
    describe the devices, so the grid drops them."""


@dataclass(frozen=True, slots=True)
class MarkNotificationsPending:
    """The grid shows "pending" for the targeted devices until the gateway reports back."""

    kind: str
    serials: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class SetProductVersion:
    """The server now runs this version of the product."""

    product: str
    version: str


@dataclass(frozen=True, slots=True)
class PublishSiteConfiguration:
    """Tell the other services the site's (new) configuration: a ``SiteConfigured``."""


@dataclass(frozen=True, slots=True)
class UnlockRelease:
    """U13: a valid confirmation code unlocks (site, product, version) for good."""

    product: str
    version: str


Effect = (ResetDeviceFlags | MarkNotificationsPending | SetProductVersion
          | PublishSiteConfiguration | UnlockRelease | SettleDevices)


@dataclass(frozen=True, slots=True)
class CodeRejected:
    """U13: the response was wrong; the attempt is counted (saved), the admin told."""

    attempts_left: int
    message: str = ("the confirmation code is not valid for this release; check it with the "
                    "vendor")


@dataclass(frozen=True, slots=True)
class Decision:
    state: Update
    messages: tuple[Message, ...] = ()
    effects: tuple[Effect, ...] = ()
    changed: bool = True
    rejected: CodeRejected | None = None


def unchanged(update: Update) -> Decision:
    return Decision(update, changed=False)
