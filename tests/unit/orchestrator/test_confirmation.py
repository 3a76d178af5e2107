"""U13: the confirmation-code algorithm the orchestrator and the vendor tool share."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from lockstep_shared.contracts.confirmation_code import (
    confirmation_response,
    format_code,
    normalize,
    response_is_valid,
)

KEY, CHALLENGE, PRODUCT, VERSION = "LIC-1", "12345-67890-13579", "shop", "03.01.00_031"


def test_the_response_is_the_documented_hmac() -> None:
    digest = hmac.new(KEY.encode(), f"{CHALLENGE}|{PRODUCT}|{VERSION}".encode(),
                      hashlib.sha256).digest()
    digits = f"{int.from_bytes(digest[:8], 'big') % 10**15:015d}"
    expected = f"{digits[:5]}-{digits[5:10]}-{digits[10:]}"
    assert confirmation_response(KEY, CHALLENGE, PRODUCT, VERSION) == expected


def test_challenge_accepted_with_or_without_dashes_and_spaces() -> None:
    response = confirmation_response(KEY, CHALLENGE, PRODUCT, VERSION)
    assert confirmation_response(KEY, "123456789013579", PRODUCT, VERSION) == response
    assert confirmation_response(KEY, "12345 67890 13579", PRODUCT, VERSION) == response
    assert response_is_valid(KEY, CHALLENGE, PRODUCT, VERSION, response.replace("-", " "))


def test_the_response_is_bound_to_licence_challenge_and_release() -> None:
    response = confirmation_response(KEY, CHALLENGE, PRODUCT, VERSION)
    assert response_is_valid(KEY, CHALLENGE, PRODUCT, VERSION, response)
    assert not response_is_valid("LIC-2", CHALLENGE, PRODUCT, VERSION, response)
    assert not response_is_valid(KEY, "12345-67890-13578", PRODUCT, VERSION, response)
    assert not response_is_valid(KEY, CHALLENGE, "warehouse", VERSION, response)
    assert not response_is_valid(KEY, CHALLENGE, PRODUCT, "03.01.00_032", response)
    assert not response_is_valid(KEY, CHALLENGE, PRODUCT, VERSION, "not a code")


def test_codes_are_fifteen_digits_in_three_groups() -> None:
    assert format_code(42) == "00000-00000-00042"
    assert normalize("000000000000042") == "00000-00000-00042"
    with pytest.raises(ValueError, match="15 digits"):
        normalize("1234-5678")
