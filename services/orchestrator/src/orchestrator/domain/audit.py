"""The audit log (U15, A7): one entry per admin action and saga step, and what a reader asks
of it. The audit repository stores and reads these."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    outcome: str = "ok"
    site_id: str | None = None
    update_id: str | None = None
    role: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True, slots=True)
class AuditQuery:
    sites: tuple[str, ...] | None = None  # None = every site (support)
    site_id: str | None = None
    update_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    action: str | None = None
    limit: int = 200
