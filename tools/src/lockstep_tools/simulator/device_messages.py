"""What a simulated device works with: its phases and outcomes, what it receives, the commands
it gives its driver and the results the driver feeds back (pure data)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Phase(StrEnum):
    UNREGISTERED = "unregistered"
    WORKING = "working"
    BLOCKED = "blocked"
    WAITING = "waiting"
    SYNC_REFUSED = "sync_refused"
    UPDATING = "updating"
    DOWNLOADING = "downloading"
    FAILED = "failed"
    DISABLED = "disabled"


class Outcome(StrEnum):
    UPDATED = "updated"
    UP_TO_DATE = "up_to_date"
    INSTALL_FAILED = "install_failed"
    DOWNLOAD_FAILED = "download_failed"
    ERRORED = "errored"


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    kind: str
    update_id: str | None


@dataclass(frozen=True, slots=True)
class Directive:
    update_id: str | None
    version: str
    size: int
    sha256: str
    url: str
    staged: bool = False  # the gateway says this device staged the package already


# ---- commands the driver executes -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Acknowledge:
    notification_id: str


@dataclass(frozen=True, slots=True)
class ReportBlocked:
    update_id: str


@dataclass(frozen=True, slots=True)
class HandInData:
    update_id: str | None
    records: int


@dataclass(frozen=True, slots=True)
class FetchDirective:
    delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Download:
    directive: Directive
    interrupt_once: bool = False


@dataclass(frozen=True, slots=True)
class ReportVersion:
    version: str


Command = Acknowledge | ReportBlocked | HandInData | FetchDirective | Download | ReportVersion


# ---- what happened (results of commands) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Acknowledged:
    notification_id: str


@dataclass(frozen=True, slots=True)
class BlockedReported:
    update_id: str


@dataclass(frozen=True, slots=True)
class BlockRefused:
    detail: str


@dataclass(frozen=True, slots=True)
class DataHandedIn:
    waiting_for_update: bool


@dataclass(frozen=True, slots=True)
class SyncRefused:
    detail: str


@dataclass(frozen=True, slots=True)
class SyncNamedUnknownUpdate:
    """``409 not_active_update`` to a hand-in: the update id it named is not the site's current
    or last update; the device forgets it and hands in again with none."""


@dataclass(frozen=True, slots=True)
class DirectiveReceived:
    directive: Directive


@dataclass(frozen=True, slots=True)
class UpdateInPreparation:
    pass


@dataclass(frozen=True, slots=True)
class NothingToInstall:
    pass


@dataclass(frozen=True, slots=True)
class DownloadVerified:
    directive: Directive
    resumes: int = 0


@dataclass(frozen=True, slots=True)
class DownloadFailed:
    reason: str


@dataclass(frozen=True, slots=True)
class DownloadStale:
    """The package URL answered 404 nothing_to_download or 409 update_in_preparation: the
    directive is stale; the device asks for it again."""

    detail: str


@dataclass(frozen=True, slots=True)
class VersionReported:
    version: str


@dataclass(frozen=True, slots=True)
class RequestFailed:
    command: Command
    detail: str


@dataclass(frozen=True, slots=True)
class Disabled:
    detail: str


Result = (
    Acknowledged
    | BlockedReported
    | BlockRefused
    | DataHandedIn
    | SyncRefused
    | SyncNamedUnknownUpdate
    | DirectiveReceived
    | UpdateInPreparation
    | NothingToInstall
    | DownloadVerified
    | DownloadFailed
    | DownloadStale
    | VersionReported
    | RequestFailed
    | Disabled
)
