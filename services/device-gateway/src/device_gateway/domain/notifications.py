"""Delivery outcome of a push notification (D2)."""

from __future__ import annotations

from datetime import datetime

DEVICE_NOT_CONNECTED = "device not connected"
NOT_ACKNOWLEDGED = "not acknowledged in time"


def not_delivered_reason(sent_at: datetime | None) -> str:
    """A notification past its deadline: never handed to an open long-poll, or handed but
    never acknowledged."""
    return DEVICE_NOT_CONNECTED if sent_at is None else NOT_ACKNOWLEDGED
