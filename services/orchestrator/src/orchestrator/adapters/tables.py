"""The orchestrator's own tables (X2), on its own MetaData: in single-node mode every service
lives in one process, so nothing may land in SQLModel's global metadata.

Status strings are stored as the domain's stable values (``UpdateState``, ``ReleaseStatus``).
``devices`` is a projection of the gateway's events plus the per-update flags of the grid; it
is written by single Core statements keyed by ``(site_id, serial)``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, MetaData, Text, text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from lockstep_shared.inbox import inbox_table
from lockstep_shared.outbox import outbox_table

metadata = MetaData()


class Base(SQLModel, registry=registry(metadata=metadata)):
    """The orchestrator's tables share one metadata (alembic reads it)."""


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every time we store is UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _when(nullable: bool = True) -> object:
    return Field(default=None, sa_type=DateTime(timezone=True), nullable=nullable)


class SiteRow(Base, table=True):
    __tablename__ = "sites"

    site_id: str = Field(primary_key=True, max_length=63)
    name: str = Field(max_length=200)
    license_key: str = Field(max_length=200)
    enrolment_code_sha256: str = Field(max_length=64)
    check_interval_s: int
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    time_zone: str = Field(default="UTC", max_length=64,
                           sa_column_kwargs={"server_default": "UTC"})


class SiteProductRow(Base, table=True):
    __tablename__ = "site_products"

    site_id: str = Field(primary_key=True, max_length=63)
    product: str = Field(primary_key=True, max_length=63)
    version: str = Field(max_length=64)


class ReleaseRow(Base, table=True):
    """The next release of one product at one site, as the watcher reported it."""

    __tablename__ = "releases"

    site_id: str = Field(primary_key=True, max_length=63)
    product: str = Field(primary_key=True, max_length=63)
    status: str = Field(max_length=32)
    version: str | None = Field(default=None, max_length=64)
    received_bytes: int = Field(default=0, sa_type=BigInteger)
    total_bytes: int = Field(default=0, sa_type=BigInteger)
    notes_url: str | None = Field(default=None, sa_type=Text)
    requires_confirmation_code: bool = False
    code_unlocked: bool = False
    reason: str | None = Field(default=None, sa_type=Text)
    package_sha256: str | None = Field(default=None, max_length=64)
    package_size: int | None = Field(default=None, sa_type=BigInteger)
    package_url: str | None = Field(default=None, sa_type=Text)
    package_target: str | None = Field(default=None, sa_type=Text)  # its TUF target path
    min_platform_version: str | None = Field(default=None, max_length=64)  # R8
    updated_at: datetime | None = _when()  # type: ignore[assignment]


class UpdateRow(Base, table=True):
    """The saga's state; ``version`` is the optimistic-concurrency counter."""

    __tablename__ = "updates"
    __table_args__ = (
        # U14: at most one active update per site, whatever the replicas and clicks do.
        Index("uq_updates_one_active_per_site", "site_id", unique=True,
              postgresql_where=text("active"), sqlite_where=text("active")),
    )

    update_id: str = Field(primary_key=True, max_length=64)
    site_id: str = Field(max_length=63, index=True)
    product: str = Field(max_length=63)
    from_version: str = Field(max_length=64)
    to_version: str = Field(max_length=64)
    package_sha256: str = Field(max_length=64)
    package_size: int = Field(sa_type=BigInteger)
    package_url: str = Field(sa_type=Text)
    package_target: str | None = Field(default=None, sa_type=Text)  # its TUF target path
    state: str = Field(max_length=32)
    active: bool
    notes_url: str | None = Field(default=None, sa_type=Text)
    devices_released: bool = False
    forced: bool = False
    authorized_by: str = Field(default="", sa_type=Text)
    opened_at: datetime = Field(sa_type=DateTime(timezone=True))
    opened_by: str = Field(max_length=200)
    notifying_since: datetime | None = _when()  # type: ignore[assignment]
    server_update_started_at: datetime | None = _when()  # type: ignore[assignment]
    server_updated_at: datetime | None = _when()  # type: ignore[assignment]
    closed_at: datetime | None = _when()  # type: ignore[assignment]
    closed_by: str | None = Field(default=None, max_length=200)
    failure_reason: str | None = Field(default=None, sa_type=Text)
    failure_exit_code: int | None = None
    failure_log_tail: str | None = Field(default=None, sa_type=Text)
    failure_interrupted: bool = False
    agent_last_heartbeat: datetime | None = _when()  # type: ignore[assignment]
    agent_last_progress: str | None = Field(default=None, sa_type=Text)
    agent_last_percent: int | None = None
    agent_last_progress_at: datetime | None = _when()  # type: ignore[assignment]
    agent_install_started_at: datetime | None = _when()  # type: ignore[assignment]
    challenge: str | None = Field(default=None, max_length=32)
    code_attempts: int = 0
    force_requested_by: str | None = Field(default=None, max_length=200)
    force_requested_at: datetime | None = _when()  # type: ignore[assignment]
    devices_reactivated_at: datetime | None = _when()  # type: ignore[assignment]  # U12
    failed_at: datetime | None = _when()  # type: ignore[assignment]  # U12: waits for support
    version: int = Field(default=1, sa_type=Integer)


class DeviceRow(Base, table=True):
    """A device as the grid shows it (U3, U9); flags belong to update ``update_id``."""

    __tablename__ = "devices"

    site_id: str = Field(primary_key=True, max_length=63)
    serial: str = Field(primary_key=True, max_length=64)
    model: str = Field(max_length=200)
    operator_code: str | None = Field(default=None, max_length=200)
    operator_name: str | None = Field(default=None, max_length=200)
    operator_phone: str | None = Field(default=None, max_length=200)
    app_version: str = Field(max_length=64)
    registered_at: datetime = Field(sa_type=DateTime(timezone=True))
    last_sync: datetime | None = _when()  # type: ignore[assignment]
    last_contact: datetime | None = _when()  # type: ignore[assignment]
    enabled: bool = True
    notifications_enabled: bool = True
    update_id: str | None = Field(default=None, max_length=64)
    notification_kind: str | None = Field(default=None, max_length=16)
    notification_outcome: str | None = Field(default=None, max_length=16)
    notification_note: str | None = Field(default=None, sa_type=Text)
    notification_sent: bool = False
    blocked: bool = False
    waiting_for_update: bool = False
    block_changed_at: datetime | None = _when()  # type: ignore[assignment]
    notes: str | None = Field(default=None, sa_type=Text)
    agent: str | None = Field(default=None, max_length=16)  # "ddi": a hawkBit agent (D14)
    ddi_waiting: str | None = Field(default=None, max_length=10)  # staged / admin (D14)
    staged_version: str | None = Field(default=None, max_length=64)  # issue 14: in background


class StopTimeRow(Base, table=True):
    """Issue 14 §2: how long the devices of one update were stopped."""

    __tablename__ = "update_stop_times"

    update_id: str = Field(primary_key=True, max_length=64)
    site_id: str = Field(max_length=63)
    first_blocked_at: datetime | None = _when()  # type: ignore[assignment]
    last_back_at: datetime | None = _when()  # type: ignore[assignment]
    complete: bool = False


class SagaCommandRow(Base, table=True):
    """A command the saga sent and whose outcome it awaits (the watchdog's memory): the
    catalogue message as sent, to send it again unchanged. Deleted once settled."""

    __tablename__ = "saga_commands"

    command_id: str = Field(primary_key=True, max_length=80)
    kind: str = Field(max_length=16)
    site_id: str = Field(max_length=63)
    update_id: str = Field(max_length=64, index=True)
    message: str = Field(sa_type=Text)
    issued_at: datetime = Field(sa_type=DateTime(timezone=True))
    last_issued_at: datetime = Field(sa_type=DateTime(timezone=True))
    reissues: int = 0
    stuck_since: datetime | None = _when()  # type: ignore[assignment]
    stuck_reason: str | None = Field(default=None, sa_type=Text)


class UserRow(Base, table=True):
    """S1: accounts; the password only as an argon2 hash."""

    __tablename__ = "users"

    username: str = Field(primary_key=True, max_length=100)
    password_hash: str = Field(sa_type=Text)
    role: str = Field(max_length=16)
    site_ids: list[str] = Field(sa_type=JSON)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    disabled: bool = False


class SessionRow(Base, table=True):
    """Bearer sessions: only the sha256 of the token is stored."""

    __tablename__ = "sessions"

    token_sha256: str = Field(primary_key=True, max_length=64)
    username: str = Field(max_length=100, index=True)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))


class LoginFailureRow(Base, table=True):
    """S6: failed logins (and logins being checked), counted per username and per client for
    the rate limit (shared by replicas)."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_who", "username", "client"),
                      Index("ix_login_failures_client", "client", "at"))

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=100)
    client: str = Field(max_length=100)
    at: datetime = Field(sa_type=DateTime(timezone=True))


class AuditRow(Base, table=True):
    """U15, A7: who, when, what, outcome. Written in the transaction of the action."""

    __tablename__ = "audit"
    __table_args__ = (Index("ix_audit_site_at", "site_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    site_id: str | None = Field(default=None, max_length=63)
    update_id: str | None = Field(default=None, max_length=64)
    actor: str = Field(max_length=200)
    role: str | None = Field(default=None, max_length=16)
    action: str = Field(max_length=64)
    details: dict[str, Any] = Field(sa_type=JSON)
    outcome: str = Field(sa_type=Text)


class SupportReportRow(Base, table=True):
    """U12: the failure report, delivered by a background worker until accepted."""

    __tablename__ = "support_reports"

    update_id: str = Field(primary_key=True, max_length=64)
    site_id: str = Field(max_length=63)
    body: dict[str, Any] = Field(sa_type=JSON)
    status: str = Field(max_length=16)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    next_attempt_at: datetime = Field(sa_type=DateTime(timezone=True))
    delivered_at: datetime | None = _when()  # type: ignore[assignment]


class UnlockedReleaseRow(Base, table=True):
    """U13: releases unlocked for a site by a valid confirmation code, for good."""

    __tablename__ = "unlocked_releases"

    site_id: str = Field(primary_key=True, max_length=63)
    product: str = Field(primary_key=True, max_length=63)
    version: str = Field(primary_key=True, max_length=64)
    unlocked_at: datetime = Field(sa_type=DateTime(timezone=True))
    unlocked_by: str = Field(max_length=200)


class EntitlementRow(Base, table=True):
    """R4: the vendor's last subscription answer for the site's licence."""

    __tablename__ = "site_entitlements"

    site_id: str = Field(primary_key=True, max_length=63)
    active: bool
    valid_until: datetime | None = _when()  # type: ignore[assignment]
    reason: str | None = Field(default=None, sa_type=Text)
    checked_at: datetime = Field(sa_type=DateTime(timezone=True))


sites = SiteRow.__table__  # type: ignore[attr-defined]
site_products = SiteProductRow.__table__  # type: ignore[attr-defined]
releases = ReleaseRow.__table__  # type: ignore[attr-defined]
updates = UpdateRow.__table__  # type: ignore[attr-defined]
devices = DeviceRow.__table__  # type: ignore[attr-defined]
saga_commands = SagaCommandRow.__table__  # type: ignore[attr-defined]
stop_times = StopTimeRow.__table__  # type: ignore[attr-defined]
users = UserRow.__table__  # type: ignore[attr-defined]
sessions = SessionRow.__table__  # type: ignore[attr-defined]
login_failures = LoginFailureRow.__table__  # type: ignore[attr-defined]
audit = AuditRow.__table__  # type: ignore[attr-defined]
support_reports = SupportReportRow.__table__  # type: ignore[attr-defined]
unlocked_releases = UnlockedReleaseRow.__table__  # type: ignore[attr-defined]
entitlements = EntitlementRow.__table__  # type: ignore[attr-defined]
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)

update_is_active = updates.c.active.is_(True)
