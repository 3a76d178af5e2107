"""``lockstep audit``: who did what, when, with what outcome (U15, A7)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from lockstep_tools.cli import output
from lockstep_tools.cli.context import Context

AUDIT_COLUMNS = [("at", "WHEN"), ("site_id", "SITE"), ("actor", "WHO"), ("role", "ROLE"),
                 ("action", "ACTION"), ("outcome", "OUTCOME"), ("details", "DETAILS")]


def moment(text: str) -> str:
    """An ISO date or time; a time without a zone is taken as UTC."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date or time (e.g. 2026-11-21 or 2026-11-21T10:00:00Z)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    audit = commands.add_parser("audit", parents=[common], help="the audit log, newest first")
    audit.add_argument("--site", help="only this site")
    audit.add_argument("--update", help="only this update")
    audit.add_argument("--since", type=moment, metavar="ISO", help="from this time on")
    audit.add_argument("--until", type=moment, metavar="ISO", help="up to this time")
    audit.add_argument("--action", help="only this action, e.g. update.open or login")
    audit.add_argument("--limit", type=_limit, default=200, help="at most this many (1-1000)")
    audit.set_defaults(handler=show_audit)


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number from 1 to 1000")
    return value


def query(args: argparse.Namespace) -> dict[str, Any]:
    return {"site_id": args.site, "update_id": args.update, "since": args.since,
            "until": args.until, "action": args.action, "limit": args.limit}


def show_audit(ctx: Context) -> int:
    page = ctx.api().get("/audit", query(ctx.args))
    ctx.show(page, lambda p: output.table(p["entries"], AUDIT_COLUMNS,
                                          empty="no audit entries match"))
    return 0
