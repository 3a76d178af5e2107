"""Request and response bodies of the device API (validated: S5)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lockstep_shared.catalogue import Serial, SiteId
from lockstep_shared.http_limits import JsonInt
from lockstep_shared.versions import VersionText

MAX_RECORDS = 2**31 - 1  # records handed in at once: a 32-bit count


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Operator(_Body):
    code: str = Field(min_length=1, max_length=100)
    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)


class RegistrationBody(_Body):
    site_id: SiteId
    enrolment_code: str = Field(min_length=1, max_length=200)
    serial: Serial
    model: str = Field(min_length=1, max_length=100)
    app_version: VersionText
    notifications_enabled: bool = Field(default=True, strict=True)
    operator: Operator | None = None
    agent: Literal["ddi"] | None = Field(
        default=None, description="'ddi': the device's update agent speaks hawkBit DDI "
        "(SWUpdate, rauc-hawkbit) and uses the device_token as its TargetToken (D14)")


class RegistrationOut(BaseModel):
    serial: str
    site_id: str
    device_token: str
    device_secret: str
    site_version: str | None
    update_required: bool = False  # D10: install the site's version now (GET /update)


class BlockedBody(_Body):
    update_id: str = Field(min_length=1, max_length=64)


class SyncBody(_Body):
    update_id: str | None = Field(default=None, min_length=1, max_length=64)
    records: JsonInt = Field(default=0, ge=0, le=MAX_RECORDS)


class SyncOut(BaseModel):
    accepted: bool
    waiting_for_update: bool


class TufTargetOut(BaseModel):
    """Where the package is in the vendor's signed TUF metadata (issue 10): a device that
    verifies TUF itself (its own pinned root.json, the vendor's feed) looks ``target`` up in
    the targets metadata and installs only if the downloaded bytes have the signed length
    and hashes."""

    target: str = Field(description="the TUF target path, e.g. packages/shop/03.01.00_031/…")
    length: int = Field(description="the length the vendor signed (= size)")
    hashes: dict[str, str] = Field(description="the hashes the vendor signed, by algorithm")


class DirectiveOut(BaseModel):
    update_id: str | None  # None for a site-version directive outside any update (D10)
    reason: str  # "update" (phase 3) or "site_version" (D10)
    version: str
    size: int
    sha256: str
    url: str
    tuf: TufTargetOut | None = Field(
        default=None, description="the package's TUF target (null: not known to the gateway, "
        "a package announced by an older release watcher)")
    staged: bool = Field(default=False, description="the device staged this package already "
                         "(§5a): install the staged copy, do not download it again")


class StagingOut(BaseModel):
    product: str
    version: str
    size: int
    sha256: str
    url: str = Field(description="GET it (with Range to resume) while the slot lasts")
    slot_s: int = Field(description="the slot lasts this long; POST /staging again renews it")


class StagedBody(_Body):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", min_length=64, max_length=64)


class NotificationOut(BaseModel):
    id: str = Field(description="acknowledge it with POST /notifications/{id}/ack")
    kind: Literal["start", "end", "error"] = Field(
        description="START UPDATE, END UPDATE or ERROR UPDATE")
    update_id: str
    created_at: datetime


class NotificationsOut(BaseModel):
    notifications: list[NotificationOut]


class VersionBody(_Body):
    app_version: VersionText
