"""Dead letters as both adapters report them: which message, published with what key, and why
and when its queue gave up on it (RabbitMQ's ``x-death`` headers; the in-process bus's row)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from lockstep_shared.bus.port import DeadLetter

REJECTED = "rejected"  # refused at once: a PermanentError, or not an envelope
DELIVERY_LIMIT = "delivery_limit"  # its handler failed on every delivery


def dead_letter(queue: str, body: bytes, reason: str, *, fallback_id: str,
                routing_key: str = "", count: int = 1,
                died_at: datetime | None = None) -> DeadLetter:
    """A dead letter; its id and routing key read from the envelope when the body is one."""
    message_id, key = _envelope_id_and_key(body)
    message_id = message_id or fallback_id or f"body-{hashlib.sha256(body).hexdigest()[:16]}"
    return DeadLetter(queue=queue, body=body, reason=reason,
                      message_id=message_id, routing_key=routing_key or key,
                      count=count, first_death_at=died_at)


def from_amqp(queue: str, queue_name: str, body: bytes, message_id: str | None,
              headers: Mapping[str, Any] | None) -> DeadLetter:
    """From a message of a RabbitMQ dead-letter queue: ``x-death`` holds one entry per
    (queue, reason) with its count, time and the routing keys it was published with."""
    headers = headers or {}
    deaths = [d for d in headers.get("x-death") or [] if isinstance(d, Mapping)]
    mine = [d for d in deaths if _text(d.get("queue")) == queue_name] or deaths
    first = mine[-1] if mine else {}  # RabbitMQ puts the most recent death first
    keys = first.get("routing-keys") or []
    reason = _text(headers.get("x-first-death-reason")) or _text(first.get("reason"))
    count = sum(int(d.get("count") or 1) for d in mine) if mine else 1
    died = first.get("time")
    if isinstance(died, datetime) and died.tzinfo is None:
        died = died.replace(tzinfo=UTC)
    return dead_letter(queue, body, reason, fallback_id=message_id or "",
                       routing_key=_text(keys[0]) if keys else "", count=count,
                       died_at=died if isinstance(died, datetime) else None)


def _envelope_id_and_key(body: bytes) -> tuple[str, str]:
    try:
        raw = json.loads(body)
        return str(raw["id"]), f"{raw['type']}.{raw['siteid']}"
    except (ValueError, TypeError, KeyError):
        return "", ""


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return "" if value is None else str(value)
