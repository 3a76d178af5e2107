"""The admin API's path and query parameters, bounded: a value that cannot name anything is
answered ``422 invalid_request`` before any handler sees it."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import BeforeValidator, Field

from lockstep_shared.catalogue import Serial, SiteId

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                                  examples=["5f0c1a2b3c4d4e5f8a9b0c1d2e3f4a5b"])]
"""An update's or an exchange's id (what the API answered when it created it)."""

MessageIdPath = Annotated[str, Field(min_length=1, max_length=128)]
"""A message's id on the bus (what the dead-letter list shows)."""

SitePath = SiteId
SerialPath = Serial
UpdateIdPath = Identifier
ExchangeIdPath = Identifier
ShortText = Annotated[str, Field(max_length=100)]


def _iso_text(value: object) -> object:
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("an ISO 8601 date and time, e.g. 2026-03-02T09:00:00Z")
    return value


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
Moment = Annotated[datetime, BeforeValidator(_iso_text)]
"""A time in a query: ISO 8601 text only (not a number of seconds)."""
