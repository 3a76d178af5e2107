"""The answer to a refusal, for the device API and the internal API: ONE table from refusal
code to HTTP status.

The service layer raises ``DeviceRefused(code, detail)``; every route of both APIs is a
``DeviceRoute``, which answers ``{"detail": …, "code": …}`` (plus any extra fields, such as
``attempts_left``) with the status below, and ``Retry-After`` when the refusal says how long
to wait. A request that does not parse is answered the same way (``invalid_request``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from device_gateway.service_layer.errors import DeviceRefused
from lockstep_shared.http_limits import describe_invalid

log = logging.getLogger(__name__)

STATUS: Mapping[str, int] = {
    # the device API (/device/v1)
    "invalid_token": 401,  # token missing or unknown: register again
    "enrolment_refused": 401,  # unknown site or wrong enrolment code
    "device_disabled": 403,  # also on the internal API
    "reregistration_refused": 403,  # a known serial, nothing proved it is the same device
    "unknown_notification": 404,
    "nothing_to_download": 404,
    "nothing_to_stage": 404,  # staging: no newer release, or the device has it already
    "not_active_update": 409,
    "sync_refused": 409,
    "update_in_preparation": 409,
    "no_staging_slot": 409,  # download of the staged release without a live slot
    "not_the_offer": 409,  # reported staged: not the package the site offers
    "protocol_retired": 410,  # every request of a retired protocol version
    "bad_range": 416,
    "invalid_request": 422,  # also on the internal API
    "registration_throttled": 429,  # too many wrong enrolment codes (Retry-After)
    "staging_busy": 429,  # every staging slot of the site is taken (Retry-After)
    "package_unavailable": 503,
    # the DDI controller API (D14)
    "not_ddi_device": 403,  # registered as a Lockstep app, not with agent 'ddi'
    "unknown_action": 404,
    "unknown_join_request": 404,  # no unknown device asked to join with that serial
    "unknown_artifact": 404,
    "action_closed": 410,  # a closed action is never offered again
    "invalid_feedback": 422,
    # the internal API (/internal/v1), the orchestrator's calls for the offline codes (D8)
    "internal_token_missing": 401,
    "internal_token_wrong": 403,
    "unknown_device": 404,
    "unknown_exchange": 404,
    "unknown_site": 404,
    "no_active_update": 409,
    "code1_reused": 409,
    "exchange_gone": 410,
    "invalid_code": 422,
    "wrong_code": 422,
    "too_many_exchanges": 429,
    "too_many_attempts": 429,
    "internal_api_disabled": 503,
}
# Device credentials refused: the code, and a Bearer challenge (RFC 6750).
BEARER_CHALLENGE = frozenset({"invalid_token", "enrolment_refused"})


def answer(refused: DeviceRefused, headers: Mapping[str, str] | None = None) -> JSONResponse:
    status = STATUS.get(refused.code)
    if status is None:  # a bug: a new refusal code without its line in STATUS
        log.error("refusal code %r has no HTTP status in entrypoints/errors.py", refused.code)
        status = 500
    body: dict[str, object] = {"detail": refused.detail, "code": refused.code}
    answer_headers = dict(headers or {})
    if refused.code in BEARER_CHALLENGE:
        answer_headers["WWW-Authenticate"] = "Bearer"
    if refused.retry_after is not None:
        answer_headers["Retry-After"] = str(refused.retry_after)
    return JSONResponse({**body, **refused.extra}, status_code=status,
                        headers=answer_headers or None)


class DeviceRoute(APIRoute):
    """A route of the device or internal API: refusals and unparsable requests become
    answers through ``STATUS`` (router-scoped: in single-node every service shares one app)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as invalid:
                refusal = answer(DeviceRefused("invalid_request", describe(invalid)))
            except DeviceRefused as refused:
                refusal = answer(refused)
            return without_body(refusal) if request.method == "HEAD" else refusal

        return handle


def without_body(response: Response) -> Response:
    """A refusal of a HEAD request: its status and headers (the JSON ``Content-Type`` of the
    GET's refusal included), no body."""
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(status_code=response.status_code, headers=headers)


def describe(invalid: RequestValidationError) -> str:
    """One short sentence: the first few fields that were wrong and why, never their values."""
    return describe_invalid(invalid.errors())
