"""Refusals: a rule (or a handler) says no, and why. Each kind carries a stable ``code``.

No HTTP status is chosen here or anywhere below the entrypoints: the admin API maps each code
to its status in one table (``entrypoints/errors.py``) and answers ``{"detail", "code"}``,
the detail being the message written for the operator (what was wrong, what to do next).

A refusal the console shows also names its ``reason`` (a stable code, e.g.
``devices_not_waiting``) and that sentence's ``params`` (e.g. ``{"missing": 2, "enabled": 6}``):
the console says it in the user's language (its catalogues have a ``refusal.<reason>`` entry
for every reason, a unit test checks it); ``detail`` stays the English text for logs and API
clients.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Refused(Exception):
    """Something the operator asked for was refused; nothing was changed by it."""

    code: ClassVar[str] = "refused"
    retry_after: int | None = None  # seconds after which asking again may succeed
    reason: str | None = None  # the console's refusal.<reason> (None: only the code's text)
    params: dict[str, Any]

    def __init__(self, *args: object, reason: str | None = None, **params: Any) -> None:
        super().__init__(*args)
        self.reason = reason or type(self).reason
        self.params = {k: v for k, v in params.items() if v is not None}

    @property
    def detail(self) -> str:
        return str(self)

    def fields(self) -> dict[str, Any]:
        """What the answer carries besides ``detail`` and ``code`` (none by default)."""
        return {}
