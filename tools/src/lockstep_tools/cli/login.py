"""``lockstep login`` / ``logout`` / ``whoami``: a bearer session kept in the session file."""

from __future__ import annotations

import argparse
from typing import Any

from lockstep_tools.cli import output, session
from lockstep_tools.cli.api import Api, ApiError
from lockstep_tools.cli.context import Context, UsageError


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    login_parser = commands.add_parser(
        "login", parents=[common], help="log in and keep the session for the next commands",
        description="Log in to a Lockstep admin API. The URL and the token are kept in "
                    "$LOCKSTEP_CLI_CONFIG (default ~/.config/lockstep/session.json, mode 0600).")
    login_parser.add_argument("--url", help="e.g. http://127.0.0.1:8000 (default: $LOCKSTEP_URL "
                                            "or the last URL logged in to)")
    login_parser.add_argument("--username", required=True)
    login_parser.add_argument("--password-stdin", action="store_true",
                              help="read the password as one line from standard input")
    login_parser.set_defaults(handler=login)

    logout_parser = commands.add_parser("logout", parents=[common],
                                        help="end the session and forget the token")
    logout_parser.set_defaults(handler=logout)

    whoami_parser = commands.add_parser("whoami", parents=[common],
                                        help="who is logged in, where, until when")
    whoami_parser.set_defaults(handler=whoami)


def login(ctx: Context) -> int:
    args = ctx.args
    stored = session.load(ctx.config_path)
    url = args.url or ctx.env.get(session.URL_ENV) or (stored.url if stored else None)
    if not url:
        raise UsageError("--url is required (no stored session and no $LOCKSTEP_URL)")
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--url {url!r} must start with http:// or https://")
    password = ctx.password(from_stdin=args.password_stdin, twice=False)
    with Api(url) as api:
        answer = api.post("/sessions", {"username": args.username, "password": password})
    kept = session.Session(url=url.rstrip("/"), token=answer["token"],
                           username=answer["username"], role=answer["role"],
                           expires_at=answer["expires_at"])
    session.save(ctx.config_path, kept)
    shown = {k: v for k, v in answer.items() if k != "token"} | {"url": kept.url}
    ctx.show(shown, lambda a: f"logged in to {a['url']} as {a['username']} ({a['role']}"
                              f"{_sites(a['sites'])}), until {output.cell(a['expires_at'])}")
    return 0


def logout(ctx: Context) -> int:
    stored = session.load(ctx.config_path)
    if stored is None or not stored.token:
        session.clear(ctx.config_path)
        ctx.show({"logged_out": False}, lambda _: "not logged in")
        return 0
    ended_on_server = True
    with Api(stored.url, stored.token) as api:
        try:
            api.delete("/sessions/current")
        except ApiError as exc:
            if exc.status is not None and exc.status != 401:
                raise
            ended_on_server = exc.status == 401  # already expired there; None: unreachable
    session.clear(ctx.config_path)
    ctx.show({"logged_out": True, "url": stored.url, "ended_on_server": ended_on_server},
             lambda _: f"logged out of {stored.url}" if ended_on_server else
             f"token forgotten here; {stored.url} could not be reached to end the session "
             "(it expires by itself)")
    return 0


def whoami(ctx: Context) -> int:
    current = session.resolve(session.load(ctx.config_path), ctx.env)
    data = {"url": current.url, "username": current.username, "role": current.role,
            "expires_at": current.expires_at, "token": "set" if current.token else None}
    ctx.show(data, lambda d: output.fields(d.items()))
    return 0


def _sites(sites: list[str]) -> str:
    return f" of {', '.join(sites)}" if sites else ""
