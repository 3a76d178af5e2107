"""The one envelope every bus message travels in (X1).

CloudEvents 1.0 attributes (id, source, type, time, subject, datacontenttype) plus the
extensions ``correlationid`` and ``causationid`` and ``siteid``. The payload is one of the
catalogue's message models, chosen by its ``type`` literal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lockstep_shared.catalogue import Message, subject_of


class InvalidEnvelope(ValueError):
    """A bus message that is not a valid Lockstep envelope; it is dead-lettered, never retried."""


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=64)
    source: str = Field(min_length=1, max_length=200)
    type: str
    time: datetime
    subject: str
    siteid: str
    datacontenttype: Literal["application/json"] = "application/json"
    correlationid: str = Field(min_length=1, max_length=64)
    causationid: str | None = None
    data: Message = Field(discriminator="type")

    @property
    def routing_key(self) -> str:
        """``<type>.<site>``: consumers bind to one type for all sites or for one site."""
        return f"{self.type}.{self.siteid}"

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, body: bytes | str) -> Envelope:
        try:
            envelope = cls.model_validate_json(body)
        except ValidationError as exc:
            raise InvalidEnvelope(f"not a valid Lockstep envelope: {exc}") from exc
        if envelope.type != envelope.data.type:
            raise InvalidEnvelope(
                f"envelope type {envelope.type!r} does not match its data type "
                f"{envelope.data.type!r}"
            )
        if envelope.siteid != envelope.data.site_id:
            raise InvalidEnvelope(
                f"envelope site {envelope.siteid!r} does not match its data site "
                f"{envelope.data.site_id!r}"
            )
        return envelope


def wrap(
    message: Message,
    *,
    id: str,
    source: str,
    time: datetime,
    correlation_id: str,
    causation_id: str | None = None,
) -> Envelope:
    """Put a message in its envelope. Ids and time are passed in, never made here."""
    return Envelope(
        id=id,
        source=source,
        type=message.type,
        time=time,
        subject=subject_of(message),
        siteid=message.site_id,
        correlationid=correlation_id,
        causationid=causation_id,
        data=message,
    )
