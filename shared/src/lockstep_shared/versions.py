"""Release versions such as ``03.01.00_030``: dot/underscore-separated numeric parts.

Versions are ordered numerically part by part (``1.10`` > ``1.9``); a shorter version that is a
prefix of a longer one sorts first (``1.2`` < ``1.2.0``). Anything else is rejected with an error
that says what was wrong; so is a version longer than ``MAX_LENGTH`` characters.
"""

from __future__ import annotations

import re
from functools import total_ordering
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer

_PART_SEPARATORS = re.compile(r"[._]")
_SHAPE = re.compile(r"^[0-9]+([._][0-9]+)*$")
MAX_LENGTH = 64


class InvalidVersion(ValueError):
    """A version string that is not dot/underscore-separated numeric parts."""


@total_ordering
class Version:
    __slots__ = ("parts", "text")

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise InvalidVersion(f"a version must be a string, got {type(text).__name__}")
        if len(text) > MAX_LENGTH:
            raise InvalidVersion(f"a version has at most {MAX_LENGTH} characters, "
                                 f"not {len(text)}")
        if not _SHAPE.match(text):
            raise InvalidVersion(
                f"invalid version {text!r}: expected numeric parts separated by '.' or '_', "
                "e.g. '03.01.00_030'"
            )
        self.text = text
        self.parts: tuple[int, ...] = tuple(int(p) for p in _PART_SEPARATORS.split(text))

    @classmethod
    def parse(cls, value: Any) -> Version:
        return value if isinstance(value, Version) else cls(value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self.parts == other.parts

    def __lt__(self, other: Version) -> bool:
        return self.parts < other.parts

    def __hash__(self) -> int:
        return hash(self.parts)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Version({self.text!r})"


def next_release(installed: Version, released: list[Version]) -> Version | None:
    """The lowest released version above the installed one: one step at a time (R5)."""
    above = [v for v in released if v > installed]
    return min(above) if above else None


def _validate(value: Any) -> str:
    return Version.parse(value).text


VersionText = Annotated[str, Field(min_length=1, max_length=MAX_LENGTH, pattern=_SHAPE.pattern,
                                   examples=["03.01.00_030"]),
                        BeforeValidator(_validate), PlainSerializer(str)]
"""A version kept as its original text in messages and tables, validated on the way in."""
