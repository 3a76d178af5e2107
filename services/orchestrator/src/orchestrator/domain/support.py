"""U12: the failure report to the vendor's support, and how its delivery is retried."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from orchestrator.domain.model import NotAllowed, Update, UpdateState
from orchestrator.domain.stop_time import StopTime

FIRST_RETRY_S = 2.0
MAX_RETRY_S = 600.0


NO_SUPPORT_ENDPOINT = "no_support_endpoint"


def report_status(stored: str, support_url: str | None) -> str:
    """The status shown for a report stored as ``stored`` (pending / delivered): a pending
    report with no support endpoint configured is never delivered — it says so (U12)."""
    return NO_SUPPORT_ENDPOINT if stored == "pending" and not support_url else stored


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff after ``attempts`` failed deliveries, capped; retried forever
    until the support endpoint accepts (HTTP 2xx)."""
    return timedelta(seconds=min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** max(0, attempts - 1)))


def support_report(update: Update, history: Sequence[dict[str, Any]], *, site_name: str,
                   requested_by: str, now: datetime, stop: StopTime | None = None
                   ) -> dict[str, Any]:
    """The report of a failed update: what failed (agent reason, exit code, log tail), how
    long the devices were stopped (issue 14 §2: ``stop_time`` is None when no device was
    blocked; ``complete`` false while some are still stopped, ``seconds`` then the stop up
    to the last device back so far, None before any) and the update's history from the audit
    log. Only a failed update has one."""
    if update.state is not UpdateState.FAILED or update.failure is None:
        raise NotAllowed(
            f"update {update.update_id} is {update.state.value}: a report to support is sent "
            "for a failed update", reason="report_only_when_failed")
    failure = update.failure
    return {
        "site_id": update.site_id, "site_name": site_name, "update_id": update.update_id,
        "product": update.product, "from_version": update.from_version,
        "to_version": update.to_version, "requested_by": requested_by,
        "created_at": now.isoformat(),
        "failure": {"reason": failure.reason, "exit_code": failure.exit_code,
                    "log_tail": failure.log_tail, "interrupted": failure.interrupted},
        "stop_time": None if stop is None or stop.first_blocked_at is None else {
            "first_blocked_at": stop.first_blocked_at.isoformat(),
            "last_back_at": None if stop.last_back_at is None else stop.last_back_at.isoformat(),
            "seconds": stop.seconds, "complete": stop.complete},
        "history": list(history),
    }


class DeliveryFailed(Exception):
    """The other side did not accept the request (unreachable, refused or an error status)."""


@dataclass(frozen=True, slots=True)
class SupportReport:
    update_id: str
    site_id: str
    body: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
