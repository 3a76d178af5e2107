"""Version parsing and ordering (R5): numeric, part by part; anything else refused clearly."""

from __future__ import annotations

import pytest

from lockstep_shared.versions import InvalidVersion, Version, next_release


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("03.01.00_030", "03.01.00_031"),
        ("03.01.00_099", "03.01.01_000"),
        ("1.9", "1.10"),
        ("1.2", "1.2.0"),
        ("2", "10"),
    ],
)
def test_versions_order_numerically_part_by_part(lower: str, higher: str) -> None:
    assert Version(lower) < Version(higher)
    assert not Version(higher) < Version(lower)


def test_separators_and_leading_zeros_do_not_change_a_version() -> None:
    assert Version("03.01.00_030") == Version("3.1.0.30")
    assert str(Version("03.01.00_030")) == "03.01.00_030"


@pytest.mark.parametrize("text", ["", "1.", ".1", "1..2", "1.2-beta", "v1.2", "1 .2", "1._2"])
def test_anything_else_is_refused_with_a_clear_error(text: str) -> None:
    with pytest.raises(InvalidVersion, match="expected numeric parts"):
        Version(text)


def test_the_next_release_is_the_lowest_above_the_installed_one() -> None:
    released = [Version(v) for v in ["03.01.00_029", "03.01.00_032", "03.01.00_031"]]
    assert next_release(Version("03.01.00_030"), released) == Version("03.01.00_031")
    assert next_release(Version("03.01.00_032"), released) is None
