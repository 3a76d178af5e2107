"""Refusals: a rule (or a handler) says no, and why. Each kind carries a stable ``code``.

No HTTP status is chosen here or anywhere below the entrypoints: the admin API maps each code
to its status in one table (``entrypoints/errors.py``) and answers ``{"detail", "code"}``,
the detail being the message written for the operator (what was wrong, what to do next).
"""

from __future__ import annotations

from typing import Any, ClassVar


class Refused(Exception):
    """Something the operator asked for was refused; nothing was changed by it."""

    code: ClassVar[str] = "refused"
    retry_after: int | None = None  # seconds after which asking again may succeed

    @property
    def detail(self) -> str:
        return str(self)

    def fields(self) -> dict[str, Any]:
        """What the answer carries besides ``detail`` and ``code`` (none by default)."""
        return {}
