"""Stream tickets: what the console puts in the live stream's URL instead of its session token
(EventSource cannot send headers, and a URL ends up in logs and histories).

A ticket names the account, the site and a moment it expires (``TTL_S`` after it was asked
for), signed with the sha256 of the session token it was asked with: only the server (which
stores that hash) and the holder of the session can make one, it opens the stream of one site
for a minute, and it dies with its session. It is not a bearer token: nothing else takes it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime

TTL_S = 60
MAX_LENGTH = 400


@dataclass(frozen=True, slots=True)
class Ticket:
    username: str
    site_id: str
    expires: int  # unix seconds
    nonce: str
    mac: str

    def signed_by(self, session_sha256: str) -> bool:
        return hmac.compare_digest(self.mac, _mac(session_sha256, self._payload()))

    def expired(self, now: datetime) -> bool:
        return now.timestamp() >= self.expires

    def _payload(self) -> bytes:
        return _payload(self.username, self.site_id, self.expires, self.nonce)


class InvalidTicket(ValueError):
    """A stream ticket that is malformed, forged, expired or of an ended session."""


def issue(session_sha256: str, username: str, site_id: str, now: datetime) -> str:
    expires = int(now.timestamp()) + TTL_S
    payload = _payload(username, site_id, expires, secrets.token_hex(8))
    return (base64.urlsafe_b64encode(payload).decode().rstrip("=") + "."
            + _mac(session_sha256, payload))


def read(ticket: str) -> Ticket:
    """The ticket's fields (not yet checked: see ``Ticket.signed_by`` and ``expired``)."""
    encoded, _, mac = ticket.partition(".")
    try:
        fields = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        return Ticket(str(fields["u"]), str(fields["s"]), int(fields["e"]), str(fields["n"]),
                      mac)
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidTicket("not a stream ticket") from exc


def _payload(username: str, site_id: str, expires: int, nonce: str) -> bytes:
    return json.dumps({"u": username, "s": site_id, "e": expires, "n": nonce},
                      separators=(",", ":"), sort_keys=True).encode()


def _mac(session_sha256: str, payload: bytes) -> str:
    return hmac.new(session_sha256.encode(), payload, hashlib.sha256).hexdigest()
