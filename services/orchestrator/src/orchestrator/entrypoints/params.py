"""The admin API's path and query parameters, bounded: a value that cannot name anything is
answered ``422 invalid_request`` before any handler sees it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from lockstep_shared.catalogue import Serial, SiteId

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                                  examples=["5f0c1a2b3c4d4e5f8a9b0c1d2e3f4a5b"])]
"""An update's or an exchange's id (what the API answered when it created it)."""

SitePath = SiteId
SerialPath = Serial
UpdateIdPath = Identifier
ExchangeIdPath = Identifier
ShortText = Annotated[str, Field(max_length=100)]
