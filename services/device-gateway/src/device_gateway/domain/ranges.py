"""HTTP byte ranges for resumable package downloads (D6): one range per request."""

from __future__ import annotations

import re

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(Exception):
    """The Range header asks for bytes outside the package (answered 416)."""


def requested_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` byte range asked for, or None for the whole file
    (no header, or one we do not serve: malformed or several ranges, which HTTP lets us
    ignore). A range starting past the end raises ``RangeNotSatisfiable`` (416)."""
    if not header:
        return None
    match = _RANGE.match(header.strip().replace(" ", ""))
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text:
        if not last_text:
            return None
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(f"bytes=-{suffix} of a {size}-byte package")
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if last_text and int(last_text) < first:
        return None
    if first >= size:
        raise RangeNotSatisfiable(f"range starts at {first}, the package has {size} bytes")
    return first, min(last, size - 1)


def if_range_allows(if_range: str | None, etag: str) -> bool:
    """A Range is honoured only if If-Range is absent or names the current ETag."""
    if if_range is None:
        return True
    value = if_range.strip()
    return value in (etag, etag.strip('"'))  # strong comparison: a weak tag never matches
