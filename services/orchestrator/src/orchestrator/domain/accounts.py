"""S1, U1, S6: who may do what, and when a login is refused for too many failures. Pure: the
password hashing and the clock live outside; the rules live here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from lockstep_shared.throttle import Limit, retry_after
from orchestrator.domain.errors import Refused

ALL_SITES = "*"
SESSION_LIFETIME = timedelta(hours=12)
LOGIN_FAILURE_WINDOW = timedelta(minutes=5)
# S6: failed logins are counted per username (from any client) and per client (for any
# username), each against its own limit: a guesser changing its address still hits the
# username's limit, one guessing many usernames hits its address's. A client is generous:
# several admins may share one office address.
LOGIN_LIMITS: Mapping[str, Limit] = {
    "user": Limit(allowed=5, window=LOGIN_FAILURE_WINDOW),
    "client": Limit(allowed=20, window=LOGIN_FAILURE_WINDOW),
}
MIN_PASSWORD_LENGTH = 8


class Role(StrEnum):
    """Persisted as these exact strings."""

    ADMIN = "admin"  # site admin of the listed sites: manages updates, devices, users
    USER = "user"  # site user of the listed sites: reads the banner, the gate, the grid
    SUPPORT = "support"  # vendor support: reads every site, resolves failures, onboards sites


class Permission(StrEnum):
    READ = "read"  # banner, gate, site, grid, update
    MANAGE = "manage"  # every update action, device management, codes, support report
    RESOLVE = "resolve"  # U12: mark a failed update resolved
    CREATE_SITE = "create_site"
    MANAGE_USERS = "manage_users"
    AUDIT = "audit"
    OPERATE = "operate"  # the installation's plumbing: see and replay the bus's dead letters
    CHECK = "check"  # R3 "check now": site admins, and vendor support (after entitling a licence)
    VENDOR_VIEW = "vendor_view"  # issue 14 §3: every site's state, the vendor's support only


@dataclass(frozen=True, slots=True)
class Account:
    username: str
    role: Role
    sites: tuple[str, ...] = ()

    def covers(self, site_id: str) -> bool:
        return self.role is Role.SUPPORT or ALL_SITES in self.sites or site_id in self.sites


class Forbidden(Refused):
    """The account may not do this."""

    code = "forbidden"


class Unauthenticated(Refused):
    """No valid session: log in (again)."""

    code = "unauthenticated"


class WrongCredentials(Unauthenticated):
    """A wrong username or password at login, or a wrong password re-entered (U7): a
    session the caller holds stays valid."""

    code = "wrong_credentials"


_BY_ROLE: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset({Permission.READ, Permission.MANAGE, Permission.MANAGE_USERS,
                          Permission.AUDIT, Permission.CHECK}),
    Role.USER: frozenset({Permission.READ}),
    Role.SUPPORT: frozenset({Permission.READ, Permission.RESOLVE, Permission.CREATE_SITE,
                            Permission.MANAGE_USERS, Permission.AUDIT, Permission.OPERATE,
                            Permission.CHECK, Permission.VENDOR_VIEW}),
}


# Permissions over the whole installation, not one site: support, or an admin of every site.
_WHOLE_INSTALLATION = frozenset({Permission.CREATE_SITE, Permission.OPERATE})


def may(account: Account, permission: Permission, site_id: str | None = None) -> bool:
    """U1: admins manage their sites; users only read theirs; support reads everything and
    resolves failures. Creating a site and operating the installation (dead letters):
    support, or an admin granted every site (``*``)."""
    if permission in _WHOLE_INSTALLATION and account.role is Role.ADMIN:
        return ALL_SITES in account.sites
    if permission not in _BY_ROLE[account.role]:
        return False
    return site_id is None or account.covers(site_id)


def authorize(account: Account, permission: Permission, site_id: str | None = None) -> None:
    if not may(account, permission, site_id):
        where = f" at site {site_id}" if site_id else ""
        raise Forbidden(f"{account.username} ({account.role.value}) may not "
                        f"{permission.value.replace('_', ' ')}{where}",
                        reason="role_may_not", user=account.username)


def may_create_user(creator: Account, role: Role, sites: Sequence[str]) -> None:
    """Support creates anyone; an admin creates admins and users of his own sites only."""
    if creator.role is Role.SUPPORT:
        return
    if creator.role is not Role.ADMIN:
        raise Forbidden(f"{creator.username} ({creator.role.value}) may not create users",
                        reason="may_not_create_users")
    if role is Role.SUPPORT:
        raise Forbidden("only vendor support creates support accounts",
                        reason="support_creates_support")
    if not sites:
        raise Forbidden("an admin creates users of his own sites: name at least one site",
                        reason="name_a_site")
    outside = [s for s in sites if not (ALL_SITES in creator.sites or s in creator.sites)]
    if outside:
        raise Forbidden(f"{creator.username} is not an admin of {', '.join(outside)}",
                        reason="not_admin_of", sites=", ".join(outside))


class AccountProblem(ValueError):
    """What is wrong with a new account: the message, and its ``reason`` code and ``params``
    for the console (refusal.<reason>)."""

    def __init__(self, message: str, reason: str, **params: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.params = params


def check_new_account(username: str, password: str, role: Role, sites: Sequence[str]) -> None:
    """Raises ``ValueError`` with what is wrong with a new account."""
    if not username or len(username) > 100 or not username.replace("-", "").replace(
            "_", "").replace(".", "").replace("@", "").isalnum():
        raise AccountProblem("username: 1-100 letters, digits, '.', '-', '_' or '@'",
                             reason="bad_username")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountProblem(f"password too short: at least {MIN_PASSWORD_LENGTH} characters",
                             reason="password_too_short", length=MIN_PASSWORD_LENGTH)
    if role is not Role.SUPPORT and not sites:
        raise AccountProblem(f"a {role.value} needs at least one site (--site SITE, or '*')",
                             reason="account_needs_site")


def login_retry_after(failures: Mapping[str, Sequence[datetime]], now: datetime) -> int | None:
    """S6: the seconds to wait before a login may be tried (Retry-After), or None when one
    may: ``failures`` are the recent failed logins of the username (``"user"``) and of the
    client address (``"client"``), each held to its limit in ``LOGIN_LIMITS``."""
    return retry_after(LOGIN_LIMITS, failures, now)


def session_expires(now: datetime) -> datetime:
    return now + SESSION_LIFETIME


class UserExists(Exception):
    """An account with this username exists already."""


@dataclass(frozen=True, slots=True)
class StoredUser:
    account: Account
    password_hash: str
    disabled: bool
    created_at: datetime
