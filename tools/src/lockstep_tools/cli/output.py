"""How answers are shown: small aligned tables and ``key: value`` blocks for people, the API's
JSON unchanged with ``--json`` for scripts. Pure functions that return text."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

Column = tuple[str, str]  # (key in the row, heading)


def cell(value: Any) -> str:
    """One value as a person reads it: '-' for nothing, yes/no, short times."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and _looks_like_time(value):
        return _short_time(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={cell(v)}" for k, v in value.items()) or "-"
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], *,
          empty: str = "(none)") -> str:
    """Rows under headings, columns padded to their widest cell."""
    if not rows:
        return empty
    grid = [[heading for _, heading in columns]]
    grid += [[cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(line[i]) for line in grid) for i in range(len(columns))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True))
             .rstrip() for line in grid]
    return "\n".join(lines)


def fields(pairs: Iterable[tuple[str, Any]]) -> str:
    """``label: value`` lines with the values aligned."""
    items = [(label, cell(value)) for label, value in pairs]
    if not items:
        return ""
    width = max(len(label) for label, _ in items) + 1
    return "\n".join(f"{(label + ':').ljust(width)} {value}" for label, value in items)


def as_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False)


def _looks_like_time(text: str) -> bool:
    return len(text) >= 19 and text[4] == "-" and text[10] == "T" and text[13] == ":"


def _short_time(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    shown = moment.strftime("%Y-%m-%d %H:%M:%S")
    if moment.utcoffset() is not None and moment.utcoffset().total_seconds() == 0:  # type: ignore[union-attr]
        return shown + "Z"
    return shown if moment.tzinfo is None else shown + moment.strftime("%z")
