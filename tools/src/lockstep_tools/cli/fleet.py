"""``lockstep fleet sites|release|failed``: the vendor's view across sites (vendor support
only): every site with its products' versions, subscription, banner and last check (failed
updates waiting for support first; filters; ``--csv`` exports), how far one release has gone
through the fleet, and the failed updates with their report."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from lockstep_tools.cli import output
from lockstep_tools.cli.context import Context

BANNERS = ["none", "blue", "yellow", "green", "white", "update_in_progress", "server_updated",
           "red"]
SITE_COLUMNS = [("site_id", "SITE"), ("name", "NAME"), ("products", "PRODUCTS"),
                ("subscription", "SUBSCRIPTION"), ("banner", "BANNER"),
                ("last_check", "LAST CHECK"), ("update", "UPDATE")]
FAILED_COLUMNS = [("site_id", "SITE"), ("update_id", "UPDATE"), ("versions", "VERSIONS"),
                  ("failed_at", "FAILED AT"), ("reason", "REASON"), ("report", "REPORT")]
ADOPTION = [("on_it", "on it"), ("past_it", "past it"), ("updating", "updating"),
            ("failed", "failed"), ("offered", "offered, no update yet"),
            ("not_yet_offered", "not yet offered")]


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    fleet = commands.add_parser("fleet", parents=[common], description=__doc__,
                                help="the vendor's view across sites (vendor support)")
    actions = fleet.add_subparsers(dest="action", required=True, metavar="ACTION")

    sites = actions.add_parser("sites", parents=[common],
                               help="every site, failed updates waiting for support first")
    sites.add_argument("--product", help="only sites with this product")
    sites.add_argument("--version", help="only sites running this version (of --product)")
    sites.add_argument("--banner", choices=BANNERS, help="only sites showing this banner")
    sites.add_argument("--subscription", choices=["active", "inactive"])
    sites.add_argument("--failed", action="store_true",
                       help="only failed updates waiting for support")
    sites.add_argument("--search", metavar="TEXT", help="in the site's id or name")
    sites.add_argument("--csv", action="store_true", help="print CSV (for a spreadsheet)")
    sites.set_defaults(handler=list_sites)

    release = actions.add_parser("release", parents=[common],
                                 help="how many sites are on a release, updating, failed, "
                                 "not yet offered")
    release.add_argument("product", metavar="PRODUCT")
    release.add_argument("version", metavar="VERSION")
    release.set_defaults(handler=show_release)

    actions.add_parser("failed", parents=[common],
                       help="failed updates waiting for support, with their report"
                       ).set_defaults(handler=list_failed)


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    return {"product": args.product, "version": args.version, "banner": args.banner,
            "subscription": args.subscription, "failed": "true" if args.failed else None,
            "q": args.search}


def list_sites(ctx: Context) -> int:
    if ctx.args.csv:
        ctx.say(ctx.api().get_text("/vendor/sites.csv", _filters(ctx.args)).rstrip("\r\n"))
        return 0
    ctx.show(ctx.api().get("/vendor/sites", _filters(ctx.args)), render_sites)
    return 0


def show_release(ctx: Context) -> int:
    path = f"/vendor/releases/{quote(ctx.args.product, safe='')}/" \
           f"{quote(ctx.args.version, safe='')}"
    ctx.show(ctx.api().get(path), render_release)
    return 0


def list_failed(ctx: Context) -> int:
    ctx.show(ctx.api().get("/vendor/failed-updates"), render_failed)
    return 0


# --- renderings ------------------------------------------------------------------------------

def render_sites(page: dict[str, Any]) -> str:
    rows = [{
        **s,
        "products": ", ".join(
            f"{p['product']} {p['version']}" + (f" (next {p['next_version']})"
                                                if p.get("next_version")
                                                and p["next_version"] != p["version"] else "")
            for p in s["products"]),
        "subscription": "active" if s["subscription_active"]
        else f"inactive: {s.get('subscription_reason') or 'no subscription'}",
        "update": (f"{s['update_state']} {s['update_id']}" if s.get("update_id") else None),
    } for s in page["sites"]]
    return output.table(rows, SITE_COLUMNS, empty="no sites match")


def render_release(release: dict[str, Any]) -> str:
    head = f"{release['product']} {release['version']} across the sites:"
    lines = [(label, f"{release['counts'][key]}" + (
        f"  ({', '.join(release['sites'][key])})" if release["sites"][key] else ""))
        for key, label in ADOPTION]
    return head + "\n" + output.fields(lines)


def render_failed(page: dict[str, Any]) -> str:
    rows = [{
        **f, "versions": f"{f['from_version']} -> {f['to_version']}",
        "report": (f"{f['report_status'].replace('_', ' ')} ({f['report_attempts']} attempts)"
                   if f.get("report_status") else "not sent yet"),
    } for f in page["failed_updates"]]
    return output.table(rows, FAILED_COLUMNS, empty="no failed update is waiting for support")
