"""Re-registration of a known serial proves the device's current secret (D1, issue 10 §3): the
formula the device and the gateway share (``docs/device-protocol.md`` §4.1). Pure: standard
library only.

``Lockstep-Secret-Proof`` = lowercase hex of ``HMAC-SHA256(device secret, "register|<site_id>|
<serial>")``, keyed like the offline codes (the secret string exactly as the registration
answer gave it, UTF-8). A proof dies with the secret: a successful re-registration rotates it.
"""

from __future__ import annotations

import hashlib
import hmac

PROOF_HEADER = "Lockstep-Secret-Proof"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def secret_proof(secret: str, site_id: str, serial: str) -> str:
    """What a device holding ``secret`` sends when it registers its serial again."""
    message = f"register|{site_id}|{serial}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def proves_secret(secret: str, site_id: str, serial: str, presented: str) -> bool:
    """Whether a presented proof was made with ``secret`` (constant-time)."""
    return hmac.compare_digest(secret_proof(secret, site_id, serial), presented.strip().lower())
