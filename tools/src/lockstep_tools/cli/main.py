"""``lockstep``: the admin and vendor command line (X8).

    lockstep login --url URL --username NAME [--password-stdin]      then any of:
    lockstep sites list|show|create|check     lockstep banner SITE     lockstep gate SITE
    lockstep devices SITE [--filter …]        lockstep devices disable|enable|code|verify …
    lockstep devices approve-reregistration SITE SERIAL
    lockstep update open|show|start-push|start|force|force-approve|finish|conclude|…
    lockstep users list|create                lockstep audit [--site S] [--since ISO] …
    lockstep dead-letters list|show ID|replay ID   (support: messages the services gave up on)
    lockstep vendor publish|confirmation-response|…   (the vendor tool, lockstep-vendor)

Human tables by default, the API's JSON with --json. Exit 0 done, 1 refused (the API's reason
is printed), 2 wrong command line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from lockstep_tools.cli import (
    audit,
    dead_letters,
    devices,
    fleet,
    login,
    sites,
    updates,
    users,
)
from lockstep_tools.cli.api import ApiError
from lockstep_tools.cli.context import Context, Refused, UsageError
from lockstep_tools.cli.session import NotLoggedIn

PROG = "lockstep"


def parser() -> argparse.ArgumentParser:
    # --json is accepted before the command and after it (SUPPRESS keeps the first one)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print the API's answer as JSON (scripts)")
    top = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--json", action="store_true", default=False,
                     help="print the API's answer as JSON (scripts)")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    login.register(commands, common)
    users.register(commands, common)
    sites.register(commands, common)
    devices.register(commands, common)
    updates.register(commands, common)
    audit.register(commands, common)
    dead_letters.register(commands, common)
    fleet.register(commands, common)
    commands.add_parser("vendor", help="the vendor tool: publish a release, compute a "
                                       "confirmation response, … (see lockstep vendor --help)",
                        add_help=False)
    _remember_parsers(top)
    return top


def _remember_parsers(parser: argparse.ArgumentParser) -> None:
    """Each leaf parser knows itself, so a handler's usage error shows the right usage."""
    parser.set_defaults(parser=parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _remember_parsers(child)


def vendor_arguments(argv: Sequence[str]) -> list[str] | None:
    """The arguments after ``vendor`` when the command is ``lockstep [--json] vendor …``."""
    for i, word in enumerate(argv):
        if word.startswith("-"):
            continue
        return list(argv[i + 1:]) if word == "vendor" else None
    return None


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    err = err or sys.stderr
    vendor = vendor_arguments(argv)
    if vendor is not None:
        from lockstep_tools.vendor.cli import main as vendor_main

        return vendor_main(vendor or ["--help"])
    top = parser()
    try:
        args = top.parse_args(devices.with_default_action(argv))
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    ctx = Context(args, out=out or sys.stdout)
    try:
        code = int(args.handler(ctx))
        ctx.out.flush()  # a closed pipe shows here, not in Python's flush at exit
        return code
    except BrokenPipeError:
        return _reader_gone(ctx.out)
    except UsageError as exc:
        args.parser.print_usage(err)
        print(f"{args.parser.prog}: error: {exc}", file=err)
        return 2
    except (ApiError, NotLoggedIn, Refused) as exc:
        print(f"{PROG}: {exc}", file=err)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=err)
        return 130
    finally:
        ctx.close()


SIGPIPE_EXIT = 141  # what a shell reports for a command ended by SIGPIPE


def _reader_gone(out: TextIO) -> int:
    """``lockstep … | head``: the reader stopped early. End quietly (no traceback), with the
    shell's SIGPIPE status; Python's own flush at exit must not complain either."""
    if out is sys.stdout:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return SIGPIPE_EXIT


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
