"""``lockstep-orchestrator [serve|migrate|create-user]``: run the admin API, saga and
consumers; bring the database to the newest revision; or create an account (the first admin
is created this way: there are no default credentials)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from lockstep_shared.bus import connect
from lockstep_shared.logs import configure_logging
from lockstep_shared.runtime import http_app, serve, settings_or_exit
from lockstep_shared.service import Service
from lockstep_shared.settings import LockstepSettings
from orchestrator.bootstrap import build
from orchestrator.domain.accounts import Role
from orchestrator.domain.model import InvalidCommand
from orchestrator.service_layer.errors import AlreadyExists, NotFound
from orchestrator.settings import OrchestratorSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lockstep-orchestrator", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the service (default)")
    commands.add_parser("migrate", help="bring the database to the newest revision")
    user = commands.add_parser(
        "create-user", help="create an account (migrates the database first if needed)")
    user.add_argument("username")
    user.add_argument("--role", required=True, choices=[r.value for r in Role])
    user.add_argument("--site", action="append", default=[], dest="sites", metavar="SITE",
                      help="a site the account belongs to (repeat; '*' = every site)")
    user.add_argument("--password-stdin", action="store_true",
                      help="read the password as one line from standard input (scripts)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    common = settings_or_exit("lockstep-orchestrator", LockstepSettings)
    settings = settings_or_exit("lockstep-orchestrator", OrchestratorSettings)
    configure_logging("orchestrator", common.log_level, common.log_json)
    if args.command == "create-user":
        password = _read_password(args.password_stdin)
        raise SystemExit(asyncio.run(_create_user(common, settings, args.username,
                                                  Role(args.role), args.sites, password)))
    bus = connect(common, "orchestrator")
    service = build(common, settings, bus)
    if args.command == "migrate":
        asyncio.run(_migrate(service))
        return
    serve(http_app([service], bus, title="Lockstep orchestrator"), settings.host, settings.port,
          forwarded_allow_ips=common.forwarded_allow_ips)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise SystemExit("the two passwords differ; nothing was created")
    return first


async def _create_user(common: LockstepSettings, settings: OrchestratorSettings, username: str,
                       role: Role, sites: list[str], password: str) -> int:
    orchestrator = build(common, settings, bus=None)  # type: ignore[arg-type]  # no bus
    try:
        with _quiet("alembic"):  # the newest revision, without a log line per migration
            await orchestrator.migrate()
        account = await orchestrator.handlers.accounts.create_user(None, username, password,
                                                                   role, sites)
    except (InvalidCommand, AlreadyExists, NotFound) as exc:
        print(f"lockstep-orchestrator create-user: {exc}", file=sys.stderr)
        return 2
    finally:
        await orchestrator.engine.dispose()
    where = ", ".join(account.sites) if account.sites else "every site"
    print(f"created {account.role.value} {account.username} ({where})")
    return 0


@contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Only warnings and errors of ``logger`` while the block runs."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


async def _migrate(service: Service) -> None:
    try:
        await service.migrate()
    finally:
        await service.engine.dispose()


if __name__ == "__main__":
    main()
