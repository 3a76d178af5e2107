"""``lockstep dead-letters``: what a person reads (against a hand-written fake API)."""

from __future__ import annotations

import argparse
import io

import httpx

from lockstep_tools.cli import dead_letters
from lockstep_tools.cli.api import Api
from lockstep_tools.cli.context import Context

from .test_cli_api_errors import FakeApi

COPY = {"queue": "release-watcher", "message_id": "m1", "type": None, "site_id": None,
        "routing_key": "lockstep.site.configured.x", "reason": "rejected", "count": 2,
        "first_death_at": "2026-11-21T10:00:00Z"}


def human(fake: FakeApi, **args: object) -> tuple[Context, io.StringIO]:
    out = io.StringIO()
    api = Api("http://lockstep.test", "tok", transport=httpx.MockTransport(fake))
    return Context(argparse.Namespace(json=False, **args), out=out, _api=api), out


def test_a_dead_letter_that_is_not_an_envelope_shows_its_raw_body() -> None:
    fake = FakeApi({("GET", "/dead-letters/m1"): (200, {
        "message_id": "m1", "copies": [COPY], "envelope": None, "body": "not json at all"})})
    ctx, out = human(fake, message_id="m1")
    assert dead_letters.show_dead_letter(ctx) == 0
    shown = out.getvalue()
    assert "id:          m1" in shown and "type:        -" in shown
    assert "release-watcher  rejected  2" in shown and shown.rstrip().endswith("not json at all")


def test_a_replay_says_where_it_went_or_that_it_was_done_before() -> None:
    fake = FakeApi({("POST", "/dead-letters/m1/replay"): (200, {
        "message_id": "m1", "replayed_to": ["orchestrator", "device-gateway"],
        "already_replayed": False})})
    ctx, out = human(fake, message_id="m1")
    assert dead_letters.replay_dead_letter(ctx) == 0
    assert out.getvalue().strip() == "replayed m1 to orchestrator, device-gateway"
    fake.answers[("POST", "/dead-letters/m1/replay")] = (200, {
        "message_id": "m1", "replayed_to": [], "already_replayed": True})
    ctx, out = human(fake, message_id="m1")
    dead_letters.replay_dead_letter(ctx)
    assert out.getvalue().strip() == "m1 was replayed before; nothing more to do"
