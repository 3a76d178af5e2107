"""Refusals the handlers make themselves (the rules' own are in ``domain``)."""

from __future__ import annotations

from typing import Any

from orchestrator.domain.decisions import CodeRejected
from orchestrator.domain.errors import Refused


class NotFound(Refused, LookupError):
    """Unknown site, update, device or report."""

    code = "not_found"


class AlreadyExists(Refused):
    """The thing to create exists already."""

    code = "already_exists"


class CodeNotValid(Refused):
    """U13: wrong confirmation code; the attempt was counted (and saved)."""

    code = "code_not_valid"

    def __init__(self, rejected: CodeRejected) -> None:
        super().__init__(rejected.message, reason="code_not_valid",
                         attempts_left=rejected.attempts_left)
        self.attempts_left = rejected.attempts_left

    def fields(self) -> dict[str, Any]:
        return {"attempts_left": self.attempts_left}


class LoginThrottled(Refused):
    """S6: too many failed logins of this username, or from this client; try again later."""

    code = "login_throttled"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins: try again in {retry_after} s",
                         reason="login_throttled", seconds=retry_after)
        self.retry_after = retry_after
