"""``lockstep users list|create``: accounts and roles (S1). The first admin is created on
the server with ``lockstep-orchestrator create-user``; admins add the others from here."""

from __future__ import annotations

import argparse
from typing import Any

from lockstep_tools.cli import output
from lockstep_tools.cli.context import Context

ROLES = ("admin", "user", "support")
USER_COLUMNS = [("username", "USERNAME"), ("role", "ROLE"), ("sites", "SITES"),
                ("disabled", "DISABLED"), ("created_at", "CREATED")]


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    users = commands.add_parser("users", parents=[common], help="accounts and roles")
    actions = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", parents=[common], help="the accounts you manage"
                       ).set_defaults(handler=list_users)
    create = actions.add_parser(
        "create", parents=[common], help="create an account",
        description="admin: manages updates and devices of its sites; user: reads the banner, "
                    "gate and grid of its sites; support: vendor support, every site.")
    create.add_argument("username", metavar="USERNAME")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--site", action="append", default=[], dest="sites", metavar="SITE",
                        help="a site of the account (repeat)")
    create.add_argument("--password-stdin", action="store_true",
                        help="read the new password as one line from standard input")
    create.set_defaults(handler=create_user)


def list_users(ctx: Context) -> int:
    ctx.show(ctx.api().get("/users"),
             lambda users: output.table(users, USER_COLUMNS, empty="no users"))
    return 0


def create_user(ctx: Context) -> int:
    args = ctx.args
    api = ctx.api()  # not logged in → say so before asking for a password
    password = ctx.password(from_stdin=args.password_stdin, twice=True,
                            prompt=f"Password for {args.username}: ")
    user = api.post("/users", {"username": args.username, "password": password,
                               "role": args.role, "sites": list(dict.fromkeys(args.sites))})
    ctx.show(user, lambda u: f"created {u['role']} {u['username']}"
                             f" ({', '.join(u['sites']) or 'every site'})")
    return 0
