"""The agent's own tables (X2): installs, its outbox and inbox, in its own MetaData."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Float, Index, Integer, MetaData, String, Table, Text

from lockstep_shared.inbox import inbox_table
from lockstep_shared.outbox import outbox_table

METADATA = MetaData()

installs = Table(
    "installs",
    METADATA,
    Column("update_id", String(64), primary_key=True),
    Column("site_id", String(64), nullable=False),
    Column("product", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("package_sha256", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("request", Text, nullable=False),  # the InstallRequested envelope, as received
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("exit_code", Integer),
    Column("reason", Text),
    Column("installed_version", String(64)),
    Column("duration_s", Float),
    Column("log_tail", Text, nullable=False, server_default=""),
    # the step running (while running) or where it failed (when failed/interrupted)
    Column("stage", String(16)),
    Index("ix_installs_site_status", "site_id", "status"),
)

outbox = outbox_table(METADATA)
inbox = inbox_table(METADATA)
