"""``lockstep dead-letters list|show ID|replay ID``: messages a service gave up on — refused at
once (rejected) or failed on every delivery (delivery_limit) — and handing one back to its
queue once the cause is fixed. Vendor support, or an admin of every site."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from lockstep_tools.cli import output
from lockstep_tools.cli.context import Context

DEAD_LETTER_COLUMNS = [("message_id", "ID"), ("queue", "QUEUE"), ("type", "TYPE"),
                       ("site_id", "SITE"), ("reason", "REASON"), ("count", "COUNT"),
                       ("first_death_at", "SINCE")]


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    dead = commands.add_parser(
        "dead-letters", parents=[common], help="messages the services gave up on; replay them",
        description=__doc__)
    actions = dead.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", parents=[common], help="every queue's dead letters, oldest first"
                       ).set_defaults(handler=list_dead_letters)
    show = actions.add_parser("show", parents=[common], help="one dead letter and its message")
    show.add_argument("message_id", metavar="ID")
    show.set_defaults(handler=show_dead_letter)
    replay = actions.add_parser(
        "replay", parents=[common], help="hand it back to its queue (after fixing the cause)",
        description="The message goes back to the queue that gave up on it, with the same id "
                    "and a fresh delivery budget, and leaves the dead letters. Replaying it "
                    "again changes nothing. Audited.")
    replay.add_argument("message_id", metavar="ID")
    replay.set_defaults(handler=replay_dead_letter)


def _path(message_id: str) -> str:
    return f"/dead-letters/{quote(message_id, safe='')}"


def list_dead_letters(ctx: Context) -> int:
    ctx.show(ctx.api().get("/dead-letters"),
             lambda page: output.table(page["dead_letters"], DEAD_LETTER_COLUMNS,
                                       empty="no dead letters"))
    return 0


def show_dead_letter(ctx: Context) -> int:
    ctx.show(ctx.api().get(_path(ctx.args.message_id)), _shown)
    return 0


def _shown(letter: dict[str, Any]) -> str:
    first = letter["copies"][0]
    head = output.fields([("id", letter["message_id"]), ("type", first["type"]),
                          ("site", first["site_id"]), ("routing key", first["routing_key"])])
    copies = output.table(letter["copies"], [("queue", "QUEUE"), ("reason", "REASON"),
                                             ("count", "COUNT"), ("first_death_at", "SINCE")])
    message = (output.as_json(letter["envelope"]) if letter["envelope"] is not None
               else letter["body"])
    return f"{head}\n\n{copies}\n\n{message}"


def replay_dead_letter(ctx: Context) -> int:
    done = ctx.api().post(_path(ctx.args.message_id) + "/replay")
    ctx.show(done, lambda d: (
        f"{d['message_id']} was replayed before; nothing more to do" if d["already_replayed"]
        else f"replayed {d['message_id']} to {', '.join(d['replayed_to'])}"))
    return 0
