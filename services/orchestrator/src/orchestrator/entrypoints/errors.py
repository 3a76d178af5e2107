"""The admin API's answer to a refusal: ONE table from refusal code to HTTP status.

Handlers and rules raise refusals (``domain.errors.Refused``) carrying a stable ``code``; every
admin route is an ``AdminRoute``, which turns a refusal (raised by the route or by one of its
dependencies, e.g. the session check) into ``{"detail": …, "code": …}`` with the status below,
plus ``reason`` and ``params`` when the refusal names them (the console translates those).
Request bodies that do not parse keep FastAPI's own 422 answer (a list of what was wrong).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from orchestrator.domain.errors import Refused

log = logging.getLogger(__name__)

STATUS: Mapping[str, int] = {
    "unauthenticated": 401,  # no valid session: log in again
    "wrong_credentials": 401,  # wrong login or re-entered password (a session stays valid)
    "forbidden": 403,  # the role or the site does not allow it
    "not_permitted": 403,  # the update's rules refuse this person (U7)
    "not_found": 404,
    "already_exists": 409,
    "not_allowed": 409,  # not in the update's current state
    "confirmation_needed": 409,  # allowed only when confirmed (U11)
    "update_already_active": 409,  # one active update per site (U14)
    "platform_required": 409,  # R8: the platform update first (names the version)
    "invalid_command": 422,
    "code_not_valid": 422,  # wrong confirmation code; the answer says how many attempts left
    "too_many_attempts": 429,  # U13: a new challenge is needed
    "login_throttled": 429,  # S6, with Retry-After
    "internal_token_missing": 401,  # internal API: no X-Lockstep-Internal header
    "internal_token_wrong": 403,
    "gateway_unavailable": 502,
    "gateway_not_configured": 503,
    "internal_api_disabled": 503,  # no internal token configured
}
UNMAPPED = 400
# Only a 401 for a missing or ended session says so (the console signs out on it; a wrong
# re-entered password keeps the admin signed in).
HEADERS: Mapping[str, Mapping[str, str]] = {"unauthenticated": {"WWW-Authenticate": "Bearer"}}


def refusal_answer(refused: Refused) -> JSONResponse:
    status = STATUS.get(refused.code)
    if status is None:
        log.error("refusal code %r has no HTTP status in entrypoints/errors.py", refused.code)
        status = UNMAPPED
    headers = dict(HEADERS.get(refused.code, {}))
    if refused.retry_after is not None:
        headers["Retry-After"] = str(refused.retry_after)
    reason = {"reason": refused.reason, "params": getattr(refused, "params", {})} \
        if refused.reason else {}
    return JSONResponse({"detail": refused.detail, "code": refused.code, **reason,
                         **refused.fields()},
                        status_code=status, headers=headers)


class AdminRoute(APIRoute):
    """A route of the admin API: refusals become answers through ``STATUS``."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handle = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handle(request)
            except Refused as refused:
                return refusal_answer(refused)

        return answer
