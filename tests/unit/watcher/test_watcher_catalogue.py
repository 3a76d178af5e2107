"""The vendor catalogue's content rules: what parses, and what is refused with a reason."""

from __future__ import annotations

import json

import pytest

from lockstep_shared.contracts.vendor_feed import InvalidCatalogue, parse_catalogue


def _catalogue(*releases: dict, product: str = "shop") -> bytes:
    return json.dumps({"products": {product: {"releases": list(releases)}}}).encode()


def _release(version: str = "03.01.00_031", **extra: object) -> dict:
    return {
        "version": version,
        "package": f"packages/shop/{version}/shop-{version}.tar.gz",
        "size": 1234,
        **extra,
    }


def test_a_valid_catalogue_parses_with_defaults() -> None:
    catalogue = parse_catalogue(_catalogue(_release(notes_url="https://vendor/notes")))
    (release,) = catalogue.releases_of("shop")
    assert release.version == "03.01.00_031"
    assert release.notes_url == "https://vendor/notes"
    assert release.requires_confirmation_code is False
    assert release.min_platform_version is None
    assert catalogue.releases_of("warehouse") == ()


def test_an_empty_catalogue_has_no_releases() -> None:
    assert parse_catalogue(b'{"products": {}}').releases_of("shop") == ()
    assert parse_catalogue(b"{}").products == {}


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"not json", "catalogue"),
        (b'{"products": []}', "products"),
        (_catalogue(_release("3.1-beta")), "invalid version '3.1-beta'"),
        (_catalogue(_release(size=-1)), "size"),
        (_catalogue({"version": "1.0"}), "package"),
        (_catalogue(_release(package="../../etc/passwd")), "must be relative"),
        (_catalogue(_release(package="/abs/file")), "must be relative"),
        (_catalogue(_release(min_platform_version="x")), "min_platform_version"),
        (_catalogue(_release("1.0"), _release("1.0")), "listed twice"),
        (_catalogue(_release("1.0"), _release("1.00")), "listed twice"),
        (_catalogue(_release(), product="Bad Name"), "products"),
    ],
)
def test_a_bad_catalogue_is_refused_with_what_is_wrong(data: bytes, says: str) -> None:
    with pytest.raises(InvalidCatalogue) as error:
        parse_catalogue(data)
    assert "the vendor catalogue is invalid" in str(error.value)
    assert says in str(error.value)


def test_a_catalogue_round_trips_through_its_json() -> None:
    catalogue = parse_catalogue(_catalogue(_release(requires_confirmation_code=True)))
    assert parse_catalogue(catalogue.to_json()) == catalogue
