"""S1, U1, S6: roles and sites decide who may do what; failed logins are rate limited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.domain.accounts import (
    Account,
    Forbidden,
    Permission,
    Role,
    authorize,
    check_new_account,
    login_retry_after,
    may,
    may_create_user,
    session_expires,
)

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
ADMIN = Account("anna", Role.ADMIN, ("shop-1",))
USER = Account("ulla", Role.USER, ("shop-1",))
SUPPORT = Account("vendor", Role.SUPPORT)
EVERY_SITE_ADMIN = Account("root", Role.ADMIN, ("*",))


def test_admin_manages_only_his_sites() -> None:
    assert may(ADMIN, Permission.MANAGE, "shop-1")
    assert not may(ADMIN, Permission.MANAGE, "shop-2")
    assert not may(ADMIN, Permission.READ, "shop-2")
    assert may(EVERY_SITE_ADMIN, Permission.MANAGE, "shop-2")


def test_user_only_reads_his_site() -> None:
    assert may(USER, Permission.READ, "shop-1")
    assert not may(USER, Permission.READ, "shop-2")
    for permission in (Permission.MANAGE, Permission.RESOLVE, Permission.AUDIT,
                       Permission.MANAGE_USERS, Permission.CREATE_SITE):
        assert not may(USER, permission, "shop-1")
    with pytest.raises(Forbidden, match="ulla \\(user\\) may not manage at site shop-1"):
        authorize(USER, Permission.MANAGE, "shop-1")


def test_support_reads_everything_and_resolves_but_does_not_manage_updates() -> None:
    assert may(SUPPORT, Permission.READ, "any-site")
    assert may(SUPPORT, Permission.RESOLVE, "any-site")
    assert may(SUPPORT, Permission.AUDIT, "any-site")
    assert not may(SUPPORT, Permission.MANAGE, "any-site")
    assert not may(ADMIN, Permission.RESOLVE, "shop-1")


def test_sites_are_created_by_support_or_an_admin_of_every_site() -> None:
    assert may(SUPPORT, Permission.CREATE_SITE)
    assert may(EVERY_SITE_ADMIN, Permission.CREATE_SITE)
    assert not may(ADMIN, Permission.CREATE_SITE)


def test_dead_letters_are_for_support_or_an_admin_of_every_site() -> None:
    assert may(SUPPORT, Permission.OPERATE)
    assert may(EVERY_SITE_ADMIN, Permission.OPERATE)
    assert not may(ADMIN, Permission.OPERATE)
    assert not may(USER, Permission.OPERATE)
    with pytest.raises(Forbidden, match="anna \\(admin\\) may not operate"):
        authorize(ADMIN, Permission.OPERATE)


def test_admins_create_users_of_their_own_sites_only() -> None:
    may_create_user(ADMIN, Role.USER, ["shop-1"])
    may_create_user(ADMIN, Role.ADMIN, ["shop-1"])
    may_create_user(SUPPORT, Role.SUPPORT, [])
    with pytest.raises(Forbidden, match="not an admin of shop-2"):
        may_create_user(ADMIN, Role.USER, ["shop-1", "shop-2"])
    with pytest.raises(Forbidden, match="support"):
        may_create_user(ADMIN, Role.SUPPORT, [])
    with pytest.raises(Forbidden):
        may_create_user(USER, Role.USER, ["shop-1"])


def test_new_accounts_need_a_real_password_and_a_site() -> None:
    check_new_account("anna", "long enough", Role.ADMIN, ["shop-1"])
    with pytest.raises(ValueError, match="too short"):
        check_new_account("anna", "short", Role.ADMIN, ["shop-1"])
    with pytest.raises(ValueError, match="at least one site"):
        check_new_account("anna", "long enough", Role.ADMIN, [])
    with pytest.raises(ValueError, match="username"):
        check_new_account("anna smith", "long enough", Role.ADMIN, ["shop-1"])


def test_five_failures_within_five_minutes_block_logins_until_the_oldest_expires() -> None:
    failures = [T0 + timedelta(seconds=10 * n) for n in range(4)]
    assert login_retry_after({"user": failures}, T0 + timedelta(seconds=60)) is None
    failures.append(T0 + timedelta(seconds=40))
    assert login_retry_after({"user": failures}, T0 + timedelta(seconds=60)) == 240
    # the first expired
    assert login_retry_after({"user": failures}, T0 + timedelta(minutes=5)) is None


def test_a_client_is_held_to_its_own_larger_limit_and_the_longest_wait_wins() -> None:
    nineteen = [T0] * 19
    assert login_retry_after({"user": [], "client": nineteen}, T0) is None
    assert login_retry_after({"client": [*nineteen, T0 + timedelta(seconds=30)]},
                             T0 + timedelta(seconds=60)) == 240
    both = {"user": [T0 + timedelta(seconds=50)] * 5, "client": [T0] * 20}
    assert login_retry_after(both, T0 + timedelta(seconds=60)) == 290


def test_old_failures_do_not_count() -> None:
    old = [T0 - timedelta(minutes=6)] * 30
    assert login_retry_after({"user": old, "client": old}, T0) is None


def test_sessions_last_twelve_hours() -> None:
    assert session_expires(T0) == T0 + timedelta(hours=12)
