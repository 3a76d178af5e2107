"""Writes the device protocol's test vectors (``docs/device-protocol.md`` §16) from the server's
own formulas: ``.venv/bin/python docs/test-vectors/generate.py``.

Deterministic: the same files every run. ``tests/unit/protocol/test_vectors.py`` fails when the
files in the repository differ from what this produces, and checks every vector against the
gateway's contract and the simulator's device side.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lockstep_shared.contracts.device_registration import secret_proof
from lockstep_shared.contracts.offline_codes import (
    ACTIONS,
    EXCHANGE_TTL_S,
    code1_from_nonce,
    code2,
    code3,
    code_problem,
    normalize,
)

HERE = Path(__file__).resolve().parent


def _secret(n: int) -> str:
    """A device secret shaped like the gateway's (64 lowercase hex characters)."""
    return hashlib.sha256(f"lockstep device-protocol test vector secret {n}".encode()).hexdigest()


def _vector(secret: str, action: str, code1: str) -> dict[str, str]:
    c2 = code2(secret, action, code1)  # type: ignore[arg-type]
    return {"secret": secret, "action": action, "code1": code1, "code2": c2,
            "code3": code3(secret, action, code1, c2)}  # type: ignore[arg-type]


def _candidates() -> Iterator[dict[str, str]]:
    n = 0
    while True:
        n += 1
        nonce = int.from_bytes(hashlib.sha256(f"nonce {n}".encode()).digest()[:8], "big")
        yield _vector(_secret(n % 7), ACTIONS[n % 2], code1_from_nonce(nonce))


def offline_code_vectors() -> list[dict[str, str]]:
    """Plain cases for both actions, code 1 with leading zeros, and (searched for) code 2 and
    code 3 with one and with two leading zeros."""
    vectors = [_vector(_secret(0), "block", "123456"), _vector(_secret(0), "unblock", "123456"),
               _vector(_secret(1), "block", "000000"), _vector(_secret(1), "unblock", "004217"),
               _vector(_secret(2), "block", "000042"), _vector(_secret(2), "unblock", "999999")]
    wanted = [lambda v: v["code2"].startswith("0"), lambda v: v["code3"].startswith("0"),
              lambda v: v["code2"].startswith("00"), lambda v: v["code3"].startswith("00")]
    for want in wanted:
        vectors.append(next(v for v in _candidates() if want(v) and v not in vectors))
    return vectors


TYPED = ["123456", "123 456", "123-456", " 12 34-56 ", "004217", "12345", "1234567", "12345a",
         "", "\uff11\uff12\uff13\uff14\uff15\uff16"]


def typed_codes() -> list[dict[str, Any]]:
    """What the operator may type and what it means: a 6-digit code, or refused."""
    out: list[dict[str, Any]] = []
    for typed in TYPED:
        refused = code_problem(typed, "code") is not None
        out.append({"typed": typed, "code": None if refused else normalize(typed)})
    return out


def offline_codes() -> dict[str, Any]:
    return {
        "description": "Offline block/unblock codes (docs/device-protocol.md §8.2). "
                       "code2 = digits(HMAC-SHA256(secret, '<action>|<code1>|2')); "
                       "code3 = digits(HMAC-SHA256(secret, '<action>|<code1>|<code2>|3')); "
                       "digits(mac) = first 8 bytes big-endian mod 10**6, zero-padded to 6. "
                       "The key is the secret string's UTF-8 bytes.",
        "digits": 6,
        "challenge_ttl_s": EXCHANGE_TTL_S,
        "vectors": offline_code_vectors(),
        "typed": typed_codes(),
    }


def registration_proof() -> dict[str, Any]:
    cases = [(_secret(0), "shop-1", "IMEI356938035643809"), (_secret(3), "a", "0"),
             (_secret(4), "warehouse-north-2", "SIM000042")]
    return {
        "description": "Lockstep-Secret-Proof (docs/device-protocol.md §4.1) = lowercase hex of "
                       "HMAC-SHA256(secret, 'register|<site_id>|<serial>').",
        "vectors": [{"secret": s, "site_id": site, "serial": serial,
                     "proof": secret_proof(s, site, serial)} for s, site, serial in cases],
    }


def sample_package_bytes() -> bytes:
    """3000 bytes: text, every byte value, and a tail long enough to cross SHA-256 blocks."""
    head = b"Lockstep sample package for device-protocol test vectors\n"
    body = bytes(range(256)) * 8
    return (head + body + b"\x00" * 3000)[:3000]


def sample_package() -> dict[str, Any]:
    content = sample_package_bytes()
    digest = hashlib.sha256(content).hexdigest()
    return {
        "description": "A package and what a device verifies before installing it "
                       "(docs/device-protocol.md §10): its exact size and sha256; the ETag "
                       "the server sends with it.",
        "content_base64": base64.b64encode(content).decode(),
        "size": len(content),
        "sha256": digest,
        "etag": f'"{digest}"',
        "sha256_of_prefixes": {str(n): hashlib.sha256(content[:n]).hexdigest()
                               for n in (0, 1, 55, 56, 63, 64, 65, 1000)},
    }


FILES = {
    "offline-codes.json": offline_codes,
    "registration-proof.json": registration_proof,
    "sample-package.json": sample_package,
}


def render(name: str) -> str:
    return json.dumps(FILES[name](), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    for name in FILES:
        (HERE / name).write_text(render(name), encoding="utf-8")
        print(f"wrote {HERE / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
