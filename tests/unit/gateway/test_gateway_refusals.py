"""The gateway's refusals: every code it raises has its one HTTP status, and the answer's body
and headers are what devices and the orchestrator have always been given."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import device_gateway
from device_gateway.entrypoints.errors import STATUS, answer
from device_gateway.service_layer.codes import REFUSAL_CODES
from device_gateway.service_layer.errors import DeviceRefused, disabled, unauthorized

PACKAGE = Path(device_gateway.__file__).parent


def raised_codes() -> set[str]:
    """The literal code of every ``DeviceRefused(…)`` in the gateway's source."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "DeviceRefused" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                found.add(node.args[0].value)
    return found


def test_every_refusal_code_has_one_status_and_every_status_a_refusal() -> None:
    raised = raised_codes() | set(REFUSAL_CODES.values())

    assert len(raised) > 15  # the scan found the refusals
    assert raised - set(STATUS) == set()
    assert set(STATUS) - raised == set()


def test_statuses_of_the_device_api() -> None:
    assert {code: STATUS[code] for code in (
        "invalid_token", "enrolment_refused", "device_disabled", "unknown_notification",
        "nothing_to_download", "not_active_update", "sync_refused", "update_in_preparation",
        "protocol_retired", "bad_range", "invalid_request", "package_unavailable")} == {
        "invalid_token": 401, "enrolment_refused": 401, "device_disabled": 403,
        "unknown_notification": 404, "nothing_to_download": 404, "not_active_update": 409,
        "sync_refused": 409, "update_in_preparation": 409, "protocol_retired": 410,
        "bad_range": 416, "invalid_request": 422, "package_unavailable": 503}


def body(response: object) -> object:
    return json.loads(response.body)  # type: ignore[attr-defined]


def test_an_answer_carries_detail_and_code_and_says_when_to_retry() -> None:
    sync = answer(DeviceRefused("sync_refused", "not now"))
    throttled = answer(DeviceRefused("too_many_exchanges", "wait", retry_after=600))
    wrong = answer(DeviceRefused("wrong_code", "again", extra={"attempts_left": 3}))

    assert sync.status_code == 409 and body(sync) == {"detail": "not now", "code": "sync_refused"}
    assert "retry-after" not in sync.headers
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "600"
    assert body(wrong) == {"detail": "again", "code": "wrong_code", "attempts_left": 3}


def test_refused_credentials_are_a_bearer_challenge_with_their_code() -> None:
    for refused in (unauthorized(), DeviceRefused("enrolment_refused", "wrong code")):
        response = answer(refused)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert body(response) == {"detail": refused.detail, "code": refused.code}
    off = answer(disabled())
    assert off.status_code == 403 and body(off)["code"] == "device_disabled"  # type: ignore[index]
    assert "www-authenticate" not in off.headers


def test_an_unmapped_code_is_a_server_error_not_a_guess() -> None:
    assert answer(DeviceRefused("no_such_code", "bug")).status_code == 500
