"""``lockstep devices …``: the grid (U3, U9), device management and disabling (U10), and the
manual block/unblock codes (U5, D8). ``lockstep devices SITE`` is short for ``devices list``."""

from __future__ import annotations

import argparse
import re
from typing import Any

from lockstep_tools.cli import output
from lockstep_tools.cli.context import Context, UsageError

ACTIONS = ("list", "manage", "disable", "enable", "approve-reregistration", "code", "verify")

GRID_COLUMNS = [("serial", "SERIAL"), ("model", "MODEL"), ("operator", "OPERATOR"),
                ("operator_phone", "PHONE"), ("last_sync", "LAST SYNC"),
                ("notifications_enabled", "PUSH"), ("notification", "NOTIFICATION"),
                ("blocked", "BLOCKED"), ("waiting_for_update", "WAITING"),
                ("app_version", "VERSION"), ("on_target_version", "UPDATED"), ("notes", "NOTES")]
MANAGEMENT_COLUMNS = [("serial", "SERIAL"), ("model", "MODEL"), ("operator", "OPERATOR"),
                      ("app_version", "VERSION"), ("enabled", "ENABLED"),
                      ("blocked", "BLOCKED"), ("last_sync", "LAST SYNC"),
                      ("registered_at", "REGISTERED")]


def device_code(text: str) -> str:
    """The digits a device shows (spaces and dashes allowed); the API checks the length."""
    digits = re.sub(r"[\s-]", "", text)
    if not re.fullmatch(r"\d{4,12}", digits):
        raise argparse.ArgumentTypeError(f"{text!r} is not the digits the device shows")
    return digits


def with_default_action(argv: list[str]) -> list[str]:
    """``devices SITE …`` → ``devices list SITE …`` (the grid is what one asks most)."""
    for i, word in enumerate(argv):
        if word.startswith("-"):
            continue
        if word != "devices":
            return argv
        rest = argv[i + 1:]
        if rest and rest[0] not in ACTIONS and not rest[0].startswith("-"):
            return [*argv[:i + 1], "list", *rest]
        return argv
    return argv


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    devices = commands.add_parser(
        "devices", parents=[common], help="a site's devices: grid, disable/enable, codes",
        description="'lockstep devices SITE' shows the grid (same as 'devices list SITE').")
    actions = devices.add_subparsers(dest="action", required=True, metavar="ACTION")

    grid = actions.add_parser("list", parents=[common], help="the grid of enabled devices")
    grid.add_argument("site", metavar="SITE")
    grid.add_argument("--filter", choices=("all", "updated", "not_updated"), default="all")
    grid.set_defaults(handler=show_grid)

    manage = actions.add_parser("manage", parents=[common],
                                help="every device, disabled ones included")
    manage.add_argument("site", metavar="SITE")
    manage.set_defaults(handler=show_management)

    disable = actions.add_parser(
        "disable", parents=[common], help="disable a device (double confirmation, U10)",
        description="The device leaves the grid and is refused everywhere until enabled "
                    "again. Needs both --yes and --yes-really.")
    disable.add_argument("site", metavar="SITE")
    disable.add_argument("serial", metavar="SERIAL")
    disable.add_argument("--yes", action="store_true", help="first confirmation")
    disable.add_argument("--yes-really", action="store_true", help="second confirmation")
    disable.set_defaults(handler=disable_device)

    enable = actions.add_parser("enable", parents=[common], help="enable a disabled device")
    enable.add_argument("site", metavar="SITE")
    enable.add_argument("serial", metavar="SERIAL")
    enable.set_defaults(handler=enable_device)

    approve = actions.add_parser(
        "approve-reregistration", parents=[common],
        help="let a device that lost its secret register again (once, within the hour)",
        description="The app was reinstalled and lost its device secret: whoever registers "
                    "the serial with the enrolment code in the next hour takes it over. "
                    "Approve only when the operator asks.")
    approve.add_argument("site", metavar="SITE")
    approve.add_argument("serial", metavar="SERIAL")
    approve.set_defaults(handler=approve_reregistration)

    code = actions.add_parser(
        "code", parents=[common], help="code 1 from the device → code 2 to read back (D8)")
    code.add_argument("site", metavar="SITE")
    code.add_argument("serial", metavar="SERIAL")
    code.add_argument("--action", required=True, choices=("block", "unblock"))
    code.add_argument("--code1", required=True, type=device_code, metavar="DIGITS")
    code.set_defaults(handler=issue_code)

    verify = actions.add_parser(
        "verify", parents=[common], help="code 3 from the device: record its new state")
    verify.add_argument("site", metavar="SITE")
    verify.add_argument("serial", metavar="SERIAL")
    verify.add_argument("exchange", metavar="EXCHANGE_ID",
                        help="the exchange id 'devices code' printed")
    verify.add_argument("--code3", required=True, type=device_code, metavar="DIGITS")
    verify.set_defaults(handler=verify_code)


def show_grid(ctx: Context) -> int:
    grid = ctx.api().get(f"/sites/{ctx.args.site}/devices", {"filter": ctx.args.filter})
    ctx.show(grid, lambda g: render_grid(g, ctx.args.filter))
    return 0


def show_management(ctx: Context) -> int:
    answer = ctx.api().get(f"/sites/{ctx.args.site}/device-management")
    ctx.show(answer, lambda a: output.table([_with_operator(d) for d in a["devices"]],
                                            MANAGEMENT_COLUMNS, empty="no devices"))
    return 0


def disable_device(ctx: Context) -> int:
    args = ctx.args
    if not (args.yes and args.yes_really):
        raise UsageError("disabling a device needs both --yes and --yes-really: it leaves the "
                         "grid and can no longer work until it is enabled again")
    answer = ctx.api().post(f"/sites/{args.site}/devices/{args.serial}/disable",
                            {"confirm": True, "confirm_again": True})
    ctx.show(answer, lambda a: f"device {a['serial']} disabled at {a['site_id']}")
    return 0


def enable_device(ctx: Context) -> int:
    answer = ctx.api().post(f"/sites/{ctx.args.site}/devices/{ctx.args.serial}/enable")
    ctx.show(answer, lambda a: f"device {a['serial']} enabled at {a['site_id']}")
    return 0


def approve_reregistration(ctx: Context) -> int:
    args = ctx.args
    answer = ctx.api().post(f"/sites/{args.site}/devices/{args.serial}/reregistration-approval")
    ctx.show(answer, lambda a: f"device {args.serial} may register again within "
                               f"{a['valid_for_s'] // 60} minutes")
    return 0


def issue_code(ctx: Context) -> int:
    args = ctx.args
    answer = ctx.api().post(f"/sites/{args.site}/devices/{args.serial}/codes",
                            {"action": args.action, "code1": args.code1})
    ctx.show(answer, lambda a: output.fields([
        ("code 2", a.get("code2")), ("exchange", a.get("exchange_id")),
        ("expires", a.get("expires_at")),
        ("next", f"read code 2 to the operator, then: lockstep devices verify {args.site} "
                 f"{args.serial} {a.get('exchange_id')} --code3 DIGITS")]))
    return 0


def verify_code(ctx: Context) -> int:
    args = ctx.args
    answer = ctx.api().post(
        f"/sites/{args.site}/devices/{args.serial}/codes/{args.exchange}/confirmation",
        {"code3": args.code3})
    ctx.show(answer, lambda a: f"code 3 verified: device {args.serial} is now "
                               f"{'blocked' if a.get('blocked') else 'unblocked'}")
    return 0


# --- renderings ------------------------------------------------------------------------------

def _with_operator(device: dict[str, Any]) -> dict[str, Any]:
    code, name = device.get("operator_code"), device.get("operator_name")
    operator = " ".join(str(p) for p in (code, name) if p) or None
    return {**device, "operator": operator}


def _notification(device: dict[str, Any]) -> str | None:
    if not device.get("notification_sent"):
        return None
    kind = device.get("notification_kind") or "sent"
    outcome = device.get("notification_outcome") or "pending"
    note = device.get("notification_note")
    return f"{kind}: {outcome}" + (f" ({note})" if note else "")


def render_grid(grid: dict[str, Any], shown: str = "all") -> str:
    rows = [{**_with_operator(d), "notification": _notification(d)} for d in grid["devices"]]
    counts = grid.get("counts") or {}
    summary = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items())
    target = grid.get("target_version")
    head = f"target version {target}; " if target else ""
    empty = {"not_updated": f"no device behind: every enabled device runs {target}",
             "updated": f"no device runs {target} yet"}.get(shown, "no enabled devices")
    return (output.table(rows, GRID_COLUMNS, empty=empty)
            + f"\n\n{head}{summary}")
