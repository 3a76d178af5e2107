"""Structured logs (X5): one JSON object per line, carrying the ids of the message handled."""

from __future__ import annotations

import json
import logging

from lockstep_shared.catalogue import AgentHeartbeat
from lockstep_shared.logs import JsonFormatter, envelope_context, log_context
from lockstep_shared.message_factory import MessageFactory


def render(record_message: str, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, record_message, None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return json.loads(JsonFormatter("orchestrator").format(record))


def test_a_line_carries_the_service_and_the_handled_message_ids() -> None:
    from datetime import UTC, datetime

    envelope = MessageFactory("installer-agent").new(
        AgentHeartbeat(site_id="shop-1", update_id="u1", at=datetime.now(UTC)))
    with envelope_context(envelope):
        line = render("heartbeat recorded")
    assert line["service"] == "orchestrator"
    assert (line["site_id"], line["update_id"]) == ("shop-1", "u1")
    assert line["correlation_id"] == envelope.correlationid
    assert "site_id" not in render("outside any message")


def test_explicit_fields_win_and_contexts_nest() -> None:
    with log_context(site_id="a", update_id="u"), log_context(serial="S1"):
        line = render("x", site_id="b")
    assert (line["site_id"], line["update_id"], line["serial"]) == ("b", "u", "S1")


def test_a_start_logs_its_migrations_without_alembic_plugin_chatter() -> None:
    """`make run` printed "setup plugin alembic.autogenerate.…" seven times before anything a
    newcomer needs; the migrations run (``alembic.runtime.migration``) still say so."""
    from lockstep_shared.logs import configure_logging

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("lockstep-node")
        assert not logging.getLogger("alembic.runtime.plugins").isEnabledFor(logging.INFO)
        assert logging.getLogger("alembic.runtime.migration").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.NOTSET)
