"""The watcher's own tables (X2), SQLAlchemy Core on the watcher's own MetaData."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)

from lockstep_shared.inbox import inbox_table
from lockstep_shared.outbox import outbox_table

METADATA = MetaData()

watched_sites = Table(
    "watched_sites",
    METADATA,
    Column("site_id", String(63), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("license_key", String(200), nullable=False),
    Column("check_interval_s", Integer, nullable=False),
    Column("next_check_at", DateTime(timezone=True), nullable=False),
    Column("last_checked_at", DateTime(timezone=True)),
    Column("last_failure", Text),
    # The vendor's subscription answer at the last check (R4); NULL = never checked.
    Column("entitlement_active", Boolean),
    Column("entitlement_valid_until", DateTime(timezone=True)),
    Column("entitlement_reason", Text),
    Column("entitlement_checked_at", DateTime(timezone=True)),
    # Carried from a "check now" request to the events of that check (X1 correlation).
    Column("check_correlation_id", String(64)),
    Column("check_causation_id", String(64)),
    # Bumped on every write: a replica claims a due check only if nobody wrote in between.
    Column("version", Integer, nullable=False, server_default="1"),
    Index("watched_sites_due", "next_check_at"),
)

# One row per product installed at a site: its installed version and what the watcher knows
# about the next release (R5): none (up to date) or one being downloaded / downloaded / failed.
watched_products = Table(
    "watched_products",
    METADATA,
    Column(
        "site_id", String(63), ForeignKey("watched_sites.site_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("product", String(63), primary_key=True),
    Column("installed_version", String(64), nullable=False),
    Column("status", String(20), nullable=False, server_default="unchecked"),
    Column("next_version", String(64)),
    Column("notes_url", Text),
    Column("target_path", Text),
    Column("sha256", String(64)),
    Column("size", BigInteger),
    Column("received_bytes", BigInteger),
    Column("requires_confirmation_code", Boolean, nullable=False, server_default=false()),
    Column("min_platform_version", String(64)),
    Column("platform_required", String(64)),
    Column("reason", Text),
    Column("checked_at", DateTime(timezone=True)),
)

outbox = outbox_table(METADATA)
inbox = inbox_table(METADATA)
