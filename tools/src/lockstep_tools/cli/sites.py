"""``lockstep sites …``, ``lockstep banner SITE``, ``lockstep gate SITE``."""

from __future__ import annotations

import argparse
from typing import Any

from lockstep_tools.cli import output
from lockstep_tools.cli.context import Context, UsageError

RELEASE_COLUMNS = [("product", "PRODUCT"), ("version", "VERSION"), ("status", "STATUS"),
                   ("progress", "DOWNLOADED"), ("requires_confirmation_code", "CODE"),
                   ("reason", "REASON")]
SITE_COLUMNS = [("site_id", "SITE"), ("name", "NAME"), ("products", "PRODUCTS"),
                ("check_interval_s", "CHECK EVERY (s)"), ("subscription", "SUBSCRIPTION")]


def product_version(text: str) -> tuple[str, str]:
    """``--product shop=03.01.00_030`` → ("shop", "03.01.00_030")."""
    product, sep, version = text.partition("=")
    if not sep or not product.strip() or not version.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not PRODUCT=VERSION (e.g. shop=03.01.00_030)")
    return product.strip(), version.strip()


def positive_seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("the check interval must be more than 0 seconds")
    return value


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    sites = commands.add_parser("sites", parents=[common], help="customer sites (X9)")
    actions = sites.add_subparsers(dest="action", required=True, metavar="ACTION")

    actions.add_parser("list", parents=[common], help="the sites you may see"
                       ).set_defaults(handler=list_sites)
    show = actions.add_parser("show", parents=[common],
                              help="a site: products, releases, subscription")
    show.add_argument("site", metavar="SITE")
    show.set_defaults(handler=show_site)

    create = actions.add_parser("create", parents=[common],
                                help="onboard a site (vendor support)")
    create.add_argument("site", metavar="SITE")
    create.add_argument("--name", required=True)
    create.add_argument("--license-key", required=True)
    create.add_argument("--enrolment-code", required=True,
                        help="the code devices register with")
    create.add_argument("--product", required=True, action="append", type=product_version,
                        dest="products", metavar="PRODUCT=VERSION",
                        help="an installed product and its version (repeat)")
    create.add_argument("--check-interval", type=positive_seconds, metavar="SECONDS",
                        help="how often to look for releases (default 4 h)")
    create.set_defaults(handler=create_site)

    check = actions.add_parser("check", parents=[common], help="look for releases now (R3)")
    check.add_argument("site", metavar="SITE")
    check.set_defaults(handler=check_now)

    banner = commands.add_parser("banner", parents=[common], help="what every user sees (N1)")
    banner.add_argument("site", metavar="SITE")
    banner.set_defaults(handler=show_banner)

    gate = commands.add_parser("gate", parents=[common],
                               help="may the desktop application open now (N3)")
    gate.add_argument("site", metavar="SITE")
    gate.set_defaults(handler=show_gate)


def create_body(args: argparse.Namespace) -> dict[str, Any]:
    products = dict(args.products)
    if len(products) != len(args.products):
        raise UsageError("a --product is given twice")
    return {"site_id": args.site, "name": args.name, "license_key": args.license_key,
            "enrolment_code": args.enrolment_code,
            "products": [{"product": p, "version": v} for p, v in products.items()],
            "check_interval_s": args.check_interval}


def list_sites(ctx: Context) -> int:
    ctx.show(ctx.api().get("/sites"), render_sites)
    return 0


def show_site(ctx: Context) -> int:
    ctx.show(ctx.api().get(f"/sites/{ctx.args.site}"), render_site)
    return 0


def create_site(ctx: Context) -> int:
    body = create_body(ctx.args)
    site = ctx.api().post("/sites", body)
    ctx.show(site, lambda s: f"site {s['site_id']} created\n" + render_site(s))
    return 0


def check_now(ctx: Context) -> int:
    answer = ctx.api().post(f"/sites/{ctx.args.site}/release-checks")
    ctx.show(answer, lambda a: f"release check requested for {a['site_id']}")
    return 0


def show_banner(ctx: Context) -> int:
    ctx.show(ctx.api().get(f"/sites/{ctx.args.site}/banner"), render_banner)
    return 0


def show_gate(ctx: Context) -> int:
    ctx.show(ctx.api().get(f"/sites/{ctx.args.site}/gate"), render_gate)
    return 0


# --- renderings ------------------------------------------------------------------------------

def _products(site: dict[str, Any]) -> str:
    return ", ".join(f"{p['product']} {p['version']}" for p in site.get("products", []))


def _subscription(entitlement: dict[str, Any] | None) -> str:
    if not entitlement or (entitlement.get("active") and entitlement.get("checked_at") is None):
        return "not checked yet"  # R4: the vendor was not asked yet (a new site)
    if entitlement.get("active"):
        until = entitlement.get("valid_until")
        return f"active until {output.cell(until)}" if until else "active"
    return f"inactive: {entitlement.get('reason') or 'no subscription'}"


def render_sites(sites: list[dict[str, Any]]) -> str:
    rows = [{**s, "products": _products(s), "subscription": _subscription(s.get("entitlement"))}
            for s in sites]
    return output.table(rows, SITE_COLUMNS, empty="no sites")


def render_site(site: dict[str, Any]) -> str:
    head = output.fields([
        ("site", site["site_id"]), ("name", site["name"]), ("products", _products(site)),
        ("check every", f"{site['check_interval_s']} s"),
        ("subscription", _subscription(site.get("entitlement"))),
    ])
    releases = [{**r, "progress": _progress(r)} for r in site.get("releases", [])]
    return head + "\n\nreleases:\n" + output.table(releases, RELEASE_COLUMNS,
                                                   empty="(no release known yet)")


def _progress(release: dict[str, Any]) -> str:
    total = release.get("total_bytes") or 0
    received = release.get("received_bytes") or 0
    if not total:
        return "-"
    return f"{received * 100 // total}% of {total} B"


def render_banner(banner: dict[str, Any]) -> str:
    state = banner["state"]
    headline = "no banner" if state == "none" else f"[{banner['colour'].upper()}] {state}"
    pairs: list[tuple[str, Any]] = [("banner", headline), ("message", banner.get("message"))]
    if banner.get("product"):
        pairs.append(("release", f"{banner['product']} {banner.get('version') or ''}".strip()))
    if banner.get("platform_required"):  # R8
        pairs.append(("first", f"platform {banner['platform_required']} (update the platform "
                               "first: lockstep update open SITE --product platform …)"))
    if banner.get("details_url"):
        pairs.append(("details", banner["details_url"]))
    if banner.get("update_id"):
        pairs.append(("update", banner["update_id"]))
    return output.fields(pairs)


def render_gate(gate: dict[str, Any]) -> str:
    if gate.get("open"):
        return "gate open: the desktop application may start"
    return f"gate CLOSED: {gate.get('reason') or 'the server is being updated'}"
