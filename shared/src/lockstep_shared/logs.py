"""Structured JSON logs carrying service, site, update and correlation id (X5)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_context: ContextVar[dict[str, Any] | None] = ContextVar("lockstep_log_context", default=None)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Every log line inside carries these fields (site_id, update_id, correlation_id…)."""
    current = _context.get() or {}
    token = _context.set({**current, **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def envelope_context(envelope: Any) -> Any:
    """The log context of a bus message being handled."""
    return log_context(site_id=envelope.siteid,
                       update_id=getattr(envelope.data, "update_id", None),
                       serial=getattr(envelope.data, "serial", None),
                       correlation_id=envelope.correlationid, message_type=envelope.type)


class JsonFormatter(logging.Formatter):
    FIELDS = ("site_id", "update_id", "correlation_id", "serial", "message_type")

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = _context.get() or {}
        for field in self.FIELDS:
            value = getattr(record, field, None)
            if value is None:
                value = context.get(field)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: str = "INFO", json_logs: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_logs:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiormq", "aio_pika", "httpx", "httpcore", "uvicorn.access", "tuf", "urllib3",
                  "alembic.runtime.plugins"):  # "setup plugin …" seven times at each start
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
