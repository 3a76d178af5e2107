"""``lockstep update …``: one coordinated update of a site, step by step (U2-U13)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from lockstep_tools.cli import output
from lockstep_tools.cli.api import ApiError
from lockstep_tools.cli.context import Context, Refused, UsageError

FINAL_STATES = ("concluded", "failed", "cancelled", "resolved")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    update = commands.add_parser("update", parents=[common],
                                 help="manage a site's update, phase by phase")
    actions = update.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help: str, handler: Any, *, update_id: bool = True,
               description: str | None = None) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, parents=[common], help=help,
                                    description=description or help)
        if update_id:
            parser.add_argument("update_id", metavar="UPDATE_ID")
        parser.set_defaults(handler=handler)
        return parser

    opened = action("open", "open 'Manage update' for a downloaded release (U2)", open_update,
                    update_id=False)
    opened.add_argument("site", metavar="SITE")
    opened.add_argument("--product", required=True)
    opened.add_argument("--backups-confirmed", action="store_true",
                        help="you confirm that the site's data is backed up (required)")

    show = action("show", "the site's current update, or one update by id", show_update,
                  update_id=False)
    show.add_argument("target", metavar="SITE|UPDATE_ID")

    action("challenge", "a fresh confirmation challenge (U13)", new_challenge)
    code = action("code", "enter the vendor's response to the challenge (U13)", submit_code)
    code.add_argument("--response", required=True, metavar="DDDDD-DDDDD-DDDDD")

    push = action("start-push", "send START UPDATE to every enabled device, or again to some "
                                "(U4)", start_push)
    push.add_argument("--serial", action="append", dest="serials", metavar="SERIAL",
                      help="only this device (repeat); default every enabled device")
    action("start", "update the server: every enabled device must be waiting (U6)",
           start_server)
    action("force", "request a forced update: first authorization (U7)", force_request)
    approve = action(
        "force-approve", "approve a forced update: second authorization (U7)", force_approve,
        description="Approve another admin's force request. On a site with one admin, the "
                    "same admin approves his own request by re-entering his password "
                    "(--password-stdin, or --reenter-password to be asked).")
    password = approve.add_mutually_exclusive_group()
    password.add_argument("--password-stdin", action="store_true",
                          help="read the re-entered password from standard input")
    password.add_argument("--reenter-password", action="store_true",
                          help="ask for the password (single-admin site)")
    finish = action("finish", "send END UPDATE: devices install the new version (U9)",
                    finish_push)
    finish.add_argument("--serial", action="append", dest="serials", metavar="SERIAL",
                        help="only this device (repeat); default every enabled device")
    conclude = action("conclude", "conclude the update (U11)", conclude_update)
    conclude.add_argument("--confirm-not-updated", action="store_true",
                          help="conclude although some devices are not on the new version")
    action("cancel", "close the update before any device was notified (U2)", cancel_update)
    action("reactivate", "after a failure: send ERROR UPDATE so devices resume work (U12)",
           reactivate)
    report = action("report", "send the failure report to vendor support (U12)", send_report)
    report.add_argument("--status", action="store_true",
                        help="only show whether the report was delivered")
    action("resolve", "vendor support: mark the failure resolved (U12)", resolve)
    wait = action("wait", "wait until the update reaches a state (scripts)", wait_for_state)
    wait.add_argument("--state", required=True, action="append", dest="states",
                      metavar="STATE", help="a state to wait for (repeat for any of several)")
    wait.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS")


def serials_body(serials: list[str] | None) -> dict[str, Any]:
    return {"serials": list(dict.fromkeys(serials)) if serials else None}


# --- handlers --------------------------------------------------------------------------------

def open_update(ctx: Context) -> int:
    args = ctx.args
    if not args.backups_confirmed:
        raise UsageError("confirm that the site's data is backed up with --backups-confirmed "
                         "before the update is opened")
    update = ctx.api().post(f"/sites/{args.site}/updates",
                            {"product": args.product, "backups_confirmed": True})
    ctx.show(update, lambda u: f"update {u['update_id']} opened\n" + render_update(u))
    return 0


def show_update(ctx: Context) -> int:
    api = ctx.api()
    target = ctx.args.target
    try:
        update = api.get(f"/updates/{target}")
    except ApiError as exc:
        if exc.status != 404:
            raise
        try:
            update = api.get(f"/sites/{target}/updates/current")
        except ApiError as site_exc:
            if site_exc.status == 404:
                raise ApiError(f"{target}: {site_exc}", 404) from site_exc
            raise
    ctx.show(update, render_update)
    return 0


def new_challenge(ctx: Context) -> int:
    update = ctx.api().post(f"/updates/{ctx.args.update_id}/challenge")
    ctx.show(update, render_update)
    return 0


def submit_code(ctx: Context) -> int:
    try:
        update = ctx.api().post(f"/updates/{ctx.args.update_id}/confirmation-code",
                                {"response": ctx.args.response.strip()})
    except ApiError as exc:
        if "attempts_left" in exc.body:
            raise ApiError(f"{exc} ({exc.body['attempts_left']} attempts left)", exc.status,
                           exc.body) from exc
        raise
    ctx.show(update, lambda u: "confirmation code accepted\n" + render_update(u))
    return 0


def start_push(ctx: Context) -> int:
    return _push(ctx, "start-notifications", "START UPDATE")


def finish_push(ctx: Context) -> int:
    return _push(ctx, "end-notifications", "END UPDATE")


def _push(ctx: Context, route: str, what: str) -> int:
    serials = ctx.args.serials
    answer = ctx.api().post(f"/updates/{ctx.args.update_id}/{route}", serials_body(serials))
    to = ", ".join(serials) if serials else "every enabled device"
    ctx.show(answer, lambda a: f"{what} sent to {to} (request {a['request_id']}); "
                               f"follow it with: lockstep update show {a['update_id']}")
    return 0


def start_server(ctx: Context) -> int:
    update = ctx.api().post(f"/updates/{ctx.args.update_id}/server-update")
    ctx.show(update, lambda u: "server update started\n" + render_update(u))
    return 0


def force_request(ctx: Context) -> int:
    answer = ctx.api().post(f"/updates/{ctx.args.update_id}/force-requests")
    ctx.show(answer, lambda a: (
        "force requested: another admin approves it with "
        f"'lockstep update force-approve {ctx.args.update_id}' (on a site with one admin, "
        "you approve it yourself with your password re-entered)\n"
        + render_update(a["update"])))
    return 0


def force_approve(ctx: Context) -> int:
    args = ctx.args
    body: dict[str, Any] = {}
    if args.password_stdin or args.reenter_password:
        body["password"] = ctx.password(from_stdin=args.password_stdin, twice=False,
                                        prompt="Re-enter your password: ")
    update = ctx.api().post(f"/updates/{args.update_id}/force-approvals", body)
    ctx.show(update, lambda u: "forced server update started\n" + render_update(u))
    return 0


def conclude_update(ctx: Context) -> int:
    uid = ctx.args.update_id
    try:
        update = ctx.api().post(f"/updates/{uid}/conclusion",
                                {"confirm_not_updated": ctx.args.confirm_not_updated})
    except ApiError as exc:
        if exc.body.get("code") == "confirmation_needed":  # U11: say it in this tool's words
            why = str(exc).split(" To conclude anyway")[0]
            raise ApiError(f"{why} To conclude anyway: lockstep update conclude {uid} "
                           "--confirm-not-updated", exc.status, exc.body) from exc
        raise
    ctx.show(update, lambda u: "update concluded\n" + render_update(u))
    return 0


def cancel_update(ctx: Context) -> int:
    update = ctx.api().post(f"/updates/{ctx.args.update_id}/cancellation")
    ctx.show(update, lambda u: "update cancelled\n" + render_update(u))
    return 0


def reactivate(ctx: Context) -> int:
    update = ctx.api().post(f"/updates/{ctx.args.update_id}/error-notifications")
    ctx.show(update, lambda u: "ERROR UPDATE sent: devices resume work\n" + render_update(u))
    return 0


def send_report(ctx: Context) -> int:
    route = f"/updates/{ctx.args.update_id}/support-report"
    api = ctx.api()
    report = api.get(route) if ctx.args.status else api.post(route)
    ctx.show(report, render_report)
    return 0


def resolve(ctx: Context) -> int:
    update = ctx.api().post(f"/updates/{ctx.args.update_id}/resolution")
    ctx.show(update, lambda u: "failure resolved\n" + render_update(u))
    return 0


def wait_for_state(ctx: Context) -> int:
    args = ctx.args
    deadline = time.monotonic() + args.timeout
    while True:
        update = ctx.api().get(f"/updates/{args.update_id}")
        if update["state"] in args.states:
            ctx.show(update, render_update)
            return 0
        if update["state"] in FINAL_STATES or time.monotonic() > deadline:
            why = "it ended" if update["state"] in FINAL_STATES else \
                f"not within {args.timeout:g} s"
            raise Refused(f"update {args.update_id} is {update['state']}, not "
                          f"{' or '.join(args.states)} ({why})")
        time.sleep(0.5)


# --- renderings ------------------------------------------------------------------------------

def render_update(update: dict[str, Any]) -> str:
    phase = update.get("phase")
    state = update["state"] + (f" (phase {phase})" if phase else "")
    pairs: list[tuple[str, Any]] = [
        ("update", update["update_id"]),
        ("site", update["site_id"]),
        ("release", f"{update['product']} {update['from_version']} → {update['to_version']}"),
        ("state", state),
    ]
    fleet = update.get("fleet") or {}
    if fleet:
        pairs.append(("devices", ", ".join(f"{k.replace('_', ' ')} {v}"
                                           for k, v in fleet.items())))
    if update.get("challenge"):
        pairs.append(("challenge", f"{update['challenge']} (give it to the vendor; then "
                                   f"lockstep update code {update['update_id']} --response R)"))
    if update.get("code_attempts_left") is not None:
        pairs.append(("attempts left", update["code_attempts_left"]))
    if update.get("force_request"):
        request = update["force_request"]
        pairs.append(("force requested", f"by {request['requested_by']} at "
                                         f"{output.cell(request.get('requested_at'))}"))
    if update.get("forced"):
        pairs.append(("forced", f"authorized by {', '.join(update.get('authorized_by') or [])}"))
    agent = update.get("agent") or {}
    if agent.get("last_heartbeat") or agent.get("last_progress"):
        progress = agent.get("last_progress") or "-"
        if agent.get("last_percent") is not None:
            progress += f" ({agent['last_percent']}%)"
        if agent.get("not_responding"):
            progress += " — NOT RESPONDING: do not interrupt"
        pairs.append(("installer", progress))
    failure = update.get("failure")
    if failure:
        pairs.append(("failure", f"{failure['reason']}"
                                 + (f" (exit code {failure['exit_code']})"
                                    if failure.get("exit_code") is not None else "")))
    stop = update.get("stop_time")
    if stop:
        pairs.append(("devices stopped", stopped_for(stop)))
    pairs += [("opened", f"{output.cell(update.get('opened_at'))} by "
                         f"{update.get('opened_by') or '-'}")]
    if update.get("concluded_at"):
        pairs.append(("concluded", update["concluded_at"]))
    if update.get("notes_url"):
        pairs.append(("notes", update["notes_url"]))
    text = output.fields(pairs)
    if failure and failure.get("log_tail"):
        text += "\n\ninstaller log tail:\n" + failure["log_tail"].rstrip()
    return text


def stopped_for(stop: dict[str, Any]) -> str:
    """The update's stop time (issue 14 §2): measured, or still running and since when."""
    since = output.cell(stop.get("first_blocked_at"))
    if stop.get("complete"):
        return f"{stop['seconds']} s (from {since} to {output.cell(stop.get('last_back_at'))})"
    return f"since {since}, some devices not back at work yet"


REPORT_STATUS = {
    "pending": "pending: being delivered, retried until support accepts it",
    "delivered": "delivered",
    "no_support_endpoint": "not sent: no support endpoint is configured "
                           "(LOCKSTEP_ORCHESTRATOR_SUPPORT_URL); it is kept and sent once one "
                           "is — meanwhile contact support directly",
}


def render_report(report: dict[str, Any]) -> str:
    status = report["status"]
    return output.fields([
        ("report for", report["update_id"]), ("status", REPORT_STATUS.get(status, status)),
        ("attempts", report["attempts"]), ("last error", report.get("last_error")),
        ("delivered", report.get("delivered_at")),
    ])
