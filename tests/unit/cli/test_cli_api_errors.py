"""Every refusal becomes the API's own ``detail`` on one line; handlers that interpret an
answer (update by id or by site, wrong confirmation code) — against a hand-written fake API."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from lockstep_tools.cli import updates
from lockstep_tools.cli.api import Api, ApiError, detail_of
from lockstep_tools.cli.context import Context


def test_the_detail_is_the_message() -> None:
    assert detail_of(409, {"detail": "another update is active"}) == "another update is active"
    assert detail_of(502, None, "<html>Bad gateway</html>") == "<html>Bad gateway</html>"
    assert detail_of(500, None) == "the server answered HTTP 500"


def test_validation_errors_read_as_field_and_reason() -> None:
    body = {"detail": [
        {"loc": ["body", "products", 0, "version"], "msg": "invalid version 'x'"},
        {"loc": ["query", "filter"], "msg": "Input should be 'all'"}]}
    assert detail_of(422, body) == ("products.0.version: invalid version 'x'; "
                                    "filter: Input should be 'all'")


def test_an_expired_session_says_to_log_in_again_but_a_failed_login_does_not() -> None:
    assert detail_of(401, {"detail": "session expired"}) == \
        "session expired (log in again: lockstep login)"
    assert detail_of(401, {"detail": "wrong username or password"}, logged_in=False) == \
        "wrong username or password"


Handler = Callable[[httpx.Request], httpx.Response]


class FakeApi:
    """Answers by (method, path); records what was asked."""

    def __init__(self, answers: dict[tuple[str, str], tuple[int, Any]]) -> None:
        self.answers = answers
        self.requests: list[tuple[str, str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v1")
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, path, body))
        status, answer = self.answers.get((request.method, path),
                                          (404, {"detail": f"no {path}"}))
        return httpx.Response(status, json=answer)


def context(fake: FakeApi, **args: Any) -> tuple[Context, io.StringIO]:
    out = io.StringIO()
    api = Api("http://lockstep.test", "tok", transport=httpx.MockTransport(fake))
    return Context(argparse.Namespace(json=True, **args), out=out, _api=api), out


def test_a_refusal_carries_status_detail_and_body() -> None:
    fake = FakeApi({("POST", "/updates/u1/server-update"): (
        409, {"detail": "2 devices are not waiting for update"})})
    ctx, _ = context(fake, update_id="u1")
    with pytest.raises(ApiError) as refused:
        updates.start_server(ctx)
    assert str(refused.value) == "2 devices are not waiting for update"
    assert refused.value.status == 409
    assert fake.requests == [("POST", "/updates/u1/server-update", {})]


def test_an_unreachable_server_is_an_api_error_not_a_traceback() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    api = Api("http://lockstep.test", transport=httpx.MockTransport(down))
    with pytest.raises(ApiError, match=r"cannot reach Lockstep at http://lockstep\.test"):
        api.get("/sites")


def test_update_show_takes_an_update_id_or_a_site() -> None:
    current = {"update_id": "u7", "state": "open"}
    fake = FakeApi({("GET", "/sites/shop-1/updates/current"): (200, current)})
    ctx, out = context(fake, target="shop-1")
    assert updates.show_update(ctx) == 0
    assert json.loads(out.getvalue()) == current
    assert [p for _, p, _ in fake.requests] == ["/updates/shop-1",
                                                "/sites/shop-1/updates/current"]


def test_update_show_of_nothing_names_what_was_asked() -> None:
    fake = FakeApi({("GET", "/sites/nope/updates/current"): (
        404, {"detail": "no active update at site nope"})})
    ctx, _ = context(fake, target="nope")
    with pytest.raises(ApiError, match=r"^nope: no active update at site nope$"):
        updates.show_update(ctx)


def test_a_wrong_confirmation_code_tells_the_attempts_left() -> None:
    fake = FakeApi({("POST", "/updates/u1/confirmation-code"): (422, {
        "detail": "the confirmation code is not valid for this release; check it with the "
                  "vendor", "attempts_left": 3})})
    ctx, _ = context(fake, update_id="u1", response=" 11111-22222-33333 ")
    with pytest.raises(ApiError, match=r"check it with the vendor \(3 attempts left\)$"):
        updates.submit_code(ctx)
    assert fake.requests[0][2] == {"response": "11111-22222-33333"}


def test_pushing_to_some_devices_sends_only_those() -> None:
    fake = FakeApi({("POST", "/updates/u1/end-notifications"): (
        202, {"request_id": "r1", "update_id": "u1"})})
    ctx, out = context(fake, update_id="u1", serials=["B", "A", "B"])
    assert updates.finish_push(ctx) == 0
    assert fake.requests[0][2] == {"serials": ["B", "A"]}
    assert json.loads(out.getvalue())["request_id"] == "r1"


def test_a_single_admin_approves_his_own_force_with_the_password_from_stdin() -> None:
    fake = FakeApi({("POST", "/updates/u1/force-approvals"): (202, {"update_id": "u1"})})
    ctx, _ = context(fake, update_id="u1", password_stdin=True, reenter_password=False)
    ctx.stdin = io.StringIO("s3cret-again\n")
    assert updates.force_approve(ctx) == 0
    assert fake.requests == [("POST", "/updates/u1/force-approvals",
                              {"password": "s3cret-again"})]


def test_a_second_admin_approves_without_a_password() -> None:
    fake = FakeApi({("POST", "/updates/u1/force-approvals"): (202, {"update_id": "u1"})})
    ctx, _ = context(fake, update_id="u1", password_stdin=False, reenter_password=False)
    assert updates.force_approve(ctx) == 0
    assert fake.requests[0][2] == {}


def test_concluding_with_devices_behind_names_the_option_not_the_api_field() -> None:
    fake = FakeApi({("POST", "/updates/u1/conclusion"): (409, {
        "code": "confirmation_needed",
        "detail": "2 of 5 enabled devices are not on version 3.1 yet; after concluding they "
                  "update themselves on their next start. To conclude anyway, send "
                  "confirm_not_updated: true"})})
    ctx, _ = context(fake, update_id="u1", confirm_not_updated=False)
    with pytest.raises(ApiError) as refused:
        updates.conclude_update(ctx)
    message = str(refused.value)
    assert message.startswith("2 of 5 enabled devices are not on version 3.1 yet")
    assert message.endswith("To conclude anyway: lockstep update conclude u1 "
                            "--confirm-not-updated")
    assert "confirm_not_updated: true" not in message
