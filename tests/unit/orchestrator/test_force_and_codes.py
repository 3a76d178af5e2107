"""U7 force by double authorization, U13 confirmation codes, U12 resolution — decisions of the
pure saga."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from lockstep_shared.catalogue import PackageRef, ServerUpdateStarted, UpdateOpened
from lockstep_shared.contracts.confirmation_code import MAX_ATTEMPTS, confirmation_response
from orchestrator.domain.commands import (
    ApproveForce,
    NewChallenge,
    OpenUpdate,
    RequestForce,
    SendStart,
    SubmitConfirmationCode,
)
from orchestrator.domain.decisions import ResetDeviceFlags, UnlockRelease
from orchestrator.domain.model import (
    FleetSummary,
    NotAllowed,
    NotPermitted,
    TooManyAttempts,
    Update,
    UpdateState,
)
from orchestrator.domain.releases import Release, ReleaseStatus
from orchestrator.domain.saga import decide, open_update, reopens_awaiting_code

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
PACKAGE = PackageRef(product="shop", version="03.01.00_031", sha256="a" * 64, size=1000,
                     url="http://watcher/artifacts/" + "a" * 64)
TWO_WAITING = FleetSummary(enabled=3, notified=3, delivered=3, blocked=3, waiting=2)
ALL_WAITING = FleetSummary(enabled=3, notified=3, delivered=3, blocked=3, waiting=3)
LICENSE = "LIC-1"
CHALLENGE = "11111-22222-33333"
S = UpdateState


def release(**overrides: object) -> Release:
    values: dict[str, object] = dict(site_id="shop-1", product="shop",
                                     status=ReleaseStatus.DOWNLOADED, version="03.01.00_031",
                                     package=PACKAGE)
    values.update(overrides)
    return Release(**values)  # type: ignore[arg-type]


def open_cmd(challenge: str | None = CHALLENGE) -> OpenUpdate:
    return OpenUpdate("u1", "shop-1", "shop", backups_confirmed=True, actor="anna",
                      challenge=challenge)


def awaiting_code() -> Update:
    return open_update(open_cmd(), active=None, release=release(requires_confirmation_code=True),
                       installed_version="03.01.00_030", now=T0).state


def notifying() -> Update:
    update = open_update(open_cmd(), active=None, release=release(),
                         installed_version="03.01.00_030", now=T0).state
    return decide(update, SendStart("r1", "anna"), T0).state


def right_code(update: Update) -> str:
    assert update.challenge is not None
    return confirmation_response(LICENSE, update.challenge, "shop", "03.01.00_031")


# --- U7 -------------------------------------------------------------------------------------


def test_approval_needs_a_request_first() -> None:
    with pytest.raises(NotAllowed, match="asks first"):
        decide(notifying(), ApproveForce("bruno", site_admins=2, fleet=TWO_WAITING), T0)


def test_a_second_admin_approves_and_both_names_are_recorded() -> None:
    requested = decide(notifying(), RequestForce("anna", fleet=TWO_WAITING), T0).state
    assert requested.force_requested_at == T0
    decision = decide(requested, ApproveForce("bruno", site_admins=2,
                                              waiting_serials=("IMEI1", "IMEI2"),
                                              fleet=TWO_WAITING), T0)
    forced = decision.state
    assert (forced.state, forced.forced, forced.authorized_by) == (
        S.SERVER_UPDATING, True, ("anna", "bruno"))
    assert forced.force_requested_by is None
    assert decision.messages[0] == ServerUpdateStarted(
        site_id="shop-1", update_id="u1", forced=True, waiting_serials=("IMEI1", "IMEI2"))


def test_the_requester_cannot_approve_himself_on_a_site_with_several_admins() -> None:
    requested = decide(notifying(), RequestForce("anna", fleet=TWO_WAITING), T0).state
    with pytest.raises(NotPermitted, match="different admin"):
        decide(requested, ApproveForce("anna", site_admins=2, fleet=TWO_WAITING), T0)
    with pytest.raises(NotPermitted, match="different admin"):  # a password does not help
        decide(requested, ApproveForce("anna", site_admins=2, password_reentered=True,
                                       fleet=TWO_WAITING), T0)


def test_the_only_admin_approves_himself_with_the_password_re_entered() -> None:
    requested = decide(notifying(), RequestForce("anna", fleet=TWO_WAITING), T0).state
    with pytest.raises(NotPermitted, match="re-entering your password"):
        decide(requested, ApproveForce("anna", site_admins=1, fleet=TWO_WAITING), T0)
    forced = decide(requested, ApproveForce("anna", site_admins=1, password_reentered=True,
                                            fleet=TWO_WAITING), T0).state
    assert forced.authorized_by == ("anna", "anna (single admin, password re-entered)")


def test_force_is_refused_when_every_device_waits_or_outside_phase_1() -> None:
    with pytest.raises(NotAllowed, match="start the update normally"):
        decide(notifying(), RequestForce("anna", fleet=ALL_WAITING), T0)
    requested = decide(notifying(), RequestForce("anna", fleet=TWO_WAITING), T0).state
    with pytest.raises(NotAllowed, match="start the update normally"):
        decide(requested, ApproveForce("bruno", site_admins=2, fleet=ALL_WAITING), T0)
    with pytest.raises(NotAllowed):
        decide(replace(requested, state=S.SERVER_UPDATED),
               ApproveForce("bruno", site_admins=2, fleet=TWO_WAITING), T0)


def test_a_second_request_keeps_the_first_requester() -> None:
    requested = decide(notifying(), RequestForce("anna", fleet=TWO_WAITING), T0).state
    again = decide(requested, RequestForce("bruno", fleet=TWO_WAITING), T0)
    assert not again.changed and again.state.force_requested_by == "anna"


# --- U13 ------------------------------------------------------------------------------------


def test_a_release_needing_a_code_shows_the_challenge_and_publishes_nothing() -> None:
    decision = open_update(open_cmd(), active=None,
                           release=release(requires_confirmation_code=True),
                           installed_version="03.01.00_030", now=T0)
    assert decision.state.state is S.AWAITING_CODE and decision.state.challenge == CHALLENGE
    assert decision.messages == () and decision.effects == ()


def test_the_right_response_opens_phase_1_and_unlocks_the_release_for_good() -> None:
    update = awaiting_code()
    decision = decide(update, SubmitConfirmationCode("anna", right_code(update), LICENSE), T0)
    assert decision.state.state is S.OPEN and decision.state.challenge is None
    assert isinstance(decision.messages[0], UpdateOpened)
    assert ResetDeviceFlags("u1") in decision.effects
    assert UnlockRelease("shop", "03.01.00_031") in decision.effects


def test_a_wrong_response_is_counted_and_explained() -> None:
    update = awaiting_code()
    decision = decide(update, SubmitConfirmationCode("anna", "00000-00000-00000", LICENSE), T0)
    assert decision.state.state is S.AWAITING_CODE and decision.state.code_attempts == 1
    assert decision.rejected is not None
    assert decision.rejected.attempts_left == MAX_ATTEMPTS - 1
    assert "not valid for this release" in decision.rejected.message
    assert decision.messages == ()


def test_another_licence_gives_a_wrong_response() -> None:
    update = awaiting_code()
    assert update.challenge is not None
    other = confirmation_response("LIC-2", update.challenge, "shop", "03.01.00_031")
    assert decide(update, SubmitConfirmationCode("anna", other, LICENSE), T0).rejected


def test_attempts_are_limited_until_a_new_challenge() -> None:
    update = awaiting_code()
    for _ in range(MAX_ATTEMPTS):
        update = decide(update, SubmitConfirmationCode("anna", "1" * 15, LICENSE), T0).state
    with pytest.raises(TooManyAttempts):  # even the right code now
        decide(update, SubmitConfirmationCode("anna", right_code(update), LICENSE), T0)
    fresh = decide(update, NewChallenge("anna", "99999-88888-77777"), T0).state
    assert fresh.code_attempts == 0 and fresh.challenge == "99999-88888-77777"
    old_answer = confirmation_response(LICENSE, CHALLENGE, "shop", "03.01.00_031")
    assert decide(fresh, SubmitConfirmationCode("anna", old_answer, LICENSE), T0).rejected
    assert decide(fresh, SubmitConfirmationCode("anna", right_code(fresh), LICENSE),
                  T0).state.state is S.OPEN


def test_opening_again_while_awaiting_the_code_reuses_the_update() -> None:
    update = awaiting_code()
    assert reopens_awaiting_code(update, open_cmd())
    assert not reopens_awaiting_code(update, replace(open_cmd(), product="warehouse"))
    assert not reopens_awaiting_code(update, replace(open_cmd(), backups_confirmed=False))
    assert not reopens_awaiting_code(replace(update, state=S.OPEN), open_cmd())
    assert not reopens_awaiting_code(None, open_cmd())


def test_codes_only_while_awaiting_one() -> None:
    with pytest.raises(NotAllowed):
        decide(notifying(), SubmitConfirmationCode("anna", "1" * 15, LICENSE), T0)
    with pytest.raises(NotAllowed):
        decide(notifying(), NewChallenge("anna", CHALLENGE), T0)


# --- R4 -------------------------------------------------------------------------------------


def test_nothing_opens_without_an_active_subscription() -> None:
    with pytest.raises(NotAllowed, match="no active update subscription"):
        open_update(open_cmd(), active=None, release=release(),
                    installed_version="03.01.00_030", now=T0, entitled=False)
