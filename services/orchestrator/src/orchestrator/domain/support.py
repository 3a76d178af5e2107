"""U12: the failure report to the vendor's support, and how its delivery is retried."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from orchestrator.domain.model import NotAllowed, Update, UpdateState

FIRST_RETRY_S = 2.0
MAX_RETRY_S = 600.0


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff after ``attempts`` failed deliveries, capped; retried forever
    until the support endpoint accepts (HTTP 2xx)."""
    return timedelta(seconds=min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** max(0, attempts - 1)))


def support_report(update: Update, history: Sequence[dict[str, Any]], *, site_name: str,
                   requested_by: str, now: datetime) -> dict[str, Any]:
    """The report of a failed update: what failed (agent reason, exit code, log tail) and
    the update's history from the audit log. Only a failed update has one."""
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
        "history": list(history),
    }
