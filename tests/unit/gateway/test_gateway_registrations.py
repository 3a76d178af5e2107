"""Who may register a serial again (issue 10 §3, device-protocol §4.1): the pure rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from device_gateway.domain.registrations import (
    ENROLMENT_LIMITS,
    Ground,
    KnownDevice,
    admission,
    key_hash,
)
from lockstep_shared.contracts.device_registration import secret_proof
from lockstep_shared.throttle import retry_after

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
SECRET = "ab" * 32


def known(**changes: object) -> KnownDevice:
    values: dict[str, object] = {"secret": SECRET, "enabled": True, "token_sha256": "t" * 64,
                                 "registered_at": T0, "idempotency_key_sha256": key_hash("k1")}
    return KnownDevice(**{**values, **changes})  # type: ignore[arg-type]


def admitted(device: KnownDevice | None, *, proof: str | None = None, key: str | None = None,
             at: datetime = T0 + timedelta(minutes=1)) -> Ground | None:
    return admission(device, "shop-1", "IMEI1", proof=proof, idempotency_key=key, now=at)


def test_a_new_serial_needs_only_the_enrolment_code() -> None:
    assert admitted(None) is Ground.NEW


def test_a_known_serial_needs_a_proof_of_its_current_secret() -> None:
    right = secret_proof(SECRET, "shop-1", "IMEI1")
    assert admitted(known()) is None
    assert admitted(known(), proof=right) is Ground.SECRET_PROOF
    assert admitted(known(), proof=right.upper()) is Ground.SECRET_PROOF  # hex, any case
    assert admitted(known(), proof=secret_proof("cd" * 32, "shop-1", "IMEI1")) is None
    assert admitted(known(), proof=secret_proof(SECRET, "shop-2", "IMEI1")) is None


def test_the_idempotency_key_of_the_current_credentials_for_a_day() -> None:
    assert admitted(known(), key="k1") is Ground.IDEMPOTENCY_KEY
    assert admitted(known(), key="k2") is None
    assert admitted(known(idempotency_key_sha256=None), key="k1") is None
    assert admitted(known(), key="k1", at=T0 + timedelta(hours=24)) is None


def test_the_admins_approval_for_an_hour() -> None:
    approved = known(approved_at=T0 + timedelta(minutes=30))
    assert admitted(approved, at=T0 + timedelta(minutes=31)) is Ground.ADMIN_APPROVAL
    assert admitted(approved, at=T0 + timedelta(minutes=90)) is None


def test_wrong_enrolment_codes_are_limited_per_client_and_per_site() -> None:
    now = T0 + timedelta(minutes=1)
    assert retry_after(ENROLMENT_LIMITS, {"client": [T0] * 4, "site": [T0] * 19}, now) is None
    assert retry_after(ENROLMENT_LIMITS, {"client": [T0] * 5}, now) == 240
    assert retry_after(ENROLMENT_LIMITS, {"client": [], "site": [T0] * 20}, now) == 240
