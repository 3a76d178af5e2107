"""Accounts, sessions and logins (S1, S6, U1). Passwords are hashed with argon2 in a thread;
only the sha256 of a bearer token is stored."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from lockstep_shared import metrics
from lockstep_shared.unit_of_work import UnitOfWork
from orchestrator.adapters.accounts_repository import AccountsRepository
from orchestrator.adapters.passwords import Passwords
from orchestrator.adapters.sites_repository import SitesRepository
from orchestrator.domain.accounts import (
    ALL_SITES,
    LOGIN_FAILURE_WINDOW,
    Account,
    Role,
    StoredUser,
    Unauthenticated,
    UserExists,
    WrongCredentials,
    check_new_account,
    login_retry_after,
    may_create_user,
    session_expires,
)
from orchestrator.domain.model import InvalidCommand
from orchestrator.service_layer.audit import AuditLog
from orchestrator.service_layer.errors import AlreadyExists, LoginThrottled, NotFound

COMMAND_LINE = "command-line"


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    account: Account
    expires_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccountHandlers:
    def __init__(self, uow: UnitOfWork, accounts: AccountsRepository, audit: AuditLog,
                 passwords: Passwords, *, sites: SitesRepository,
                 clock: Callable[[], datetime], tokens: Callable[[], str]) -> None:
        self.uow = uow
        self.accounts = accounts
        self.sites = sites
        self.audit = audit
        self.passwords = passwords
        self.clock = clock
        self.tokens = tokens  # a new random bearer token

    async def create_user(self, creator: Account | None, username: str, password: str,
                          role: Role, sites: Sequence[str]) -> Account:
        """``creator`` None = the command line on the server (the first admin, S1). Every
        site named must exist (``*``, every site, always does): an account is made for a
        site the vendor's support created already; nothing is created otherwise."""
        sites = tuple(dict.fromkeys(sites))
        try:
            check_new_account(username, password, role, sites)
        except ValueError as exc:
            raise InvalidCommand(str(exc), reason=getattr(exc, "reason", None),
                                 **getattr(exc, "params", {})) from None
        if creator is not None:
            may_create_user(creator, role, sites)
        account = Account(username, role, () if role is Role.SUPPORT else sites)
        password_hash = await asyncio.to_thread(self.passwords.hash, password)
        try:
            async with self.uow.begin() as tx:
                for site_id in account.sites:
                    if site_id != ALL_SITES and not await self.sites.exists(tx.conn, site_id):
                        raise NotFound(
                            f"unknown site {site_id!r}: create the site first (vendor "
                            "support: lockstep sites create …), then its accounts; nothing "
                            "was created")
                await self.accounts.add(tx.conn, account, password_hash, self.clock())
                for site in account.sites or (None,):
                    await self.audit.record(tx, creator or COMMAND_LINE, "user.created",
                                            site_id=None if site == "*" else site,
                                            username=username, role=role.value,
                                            sites=list(sites))
        except UserExists:
            raise AlreadyExists(f"user {username!r} exists already", reason="user_exists",
                                user=username) from None
        return account

    async def users(self, viewer: Account) -> list[StoredUser]:
        async with self.uow.engine.connect() as conn:
            users = await self.accounts.all(conn)
        if viewer.role is Role.SUPPORT:
            return users
        return [u for u in users if any(viewer.covers(s) for s in u.account.sites)]

    async def login(self, username: str, password: str, client: str) -> Session:
        """S6: the attempt is counted as a failure *before* the password is checked, under a
        lock on the username and the client: parallel guesses never get more checks than the
        limit. A right password takes its count back."""
        now = self.clock()
        attempt: int | None = None
        async with self.uow.begin() as tx:
            await self.accounts.lock_logins(tx.conn, username, client)
            retry_after = login_retry_after(await self.accounts.failures(
                tx.conn, username, client, now - LOGIN_FAILURE_WINDOW), now)
            if retry_after is None:
                attempt = await self.accounts.add_failure(tx.conn, username, client, now,
                                                          now - LOGIN_FAILURE_WINDOW)
        if attempt is None:
            metrics.CREDENTIALS_REFUSED.labels("login_throttled").inc()
            await self.audit.record_alone(username, "login", outcome="refused: rate limited",
                                          client=client)
            raise LoginThrottled(retry_after or 1)
        async with self.uow.engine.connect() as conn:
            stored = await self.accounts.get(conn, username)
        valid = await asyncio.to_thread(
            self.passwords.verify, stored.password_hash if stored else None, password)
        if not valid or stored is None or stored.disabled:
            metrics.CREDENTIALS_REFUSED.labels("wrong_credentials").inc()
            await self.audit.record_alone(username, "login", outcome="failed: wrong credentials",
                                          client=client)
            raise WrongCredentials("wrong username or password", reason="wrong_login")
        token = self.tokens()
        expires_at = session_expires(now)
        async with self.uow.begin() as tx:
            await self.accounts.forget_failure(tx.conn, attempt)
            await self.accounts.clear_failures(tx.conn, username, client)
            await self.accounts.add_session(tx.conn, token_hash(token), username, now,
                                            expires_at)
            await self.audit.record(tx, stored.account, "login", client=client)
        return Session(token, stored.account, expires_at)

    async def logout(self, token: str, account: Account) -> None:
        async with self.uow.begin() as tx:
            await self.accounts.end_session(tx.conn, token_hash(token))
            await self.audit.record(tx, account, "logout")

    async def authenticate(self, token: str) -> Account:
        async with self.uow.engine.connect() as conn:
            account = await self.accounts.session_account(conn, token_hash(token),
                                                          self.clock())
        if account is None:
            raise Unauthenticated("the session is unknown or expired: log in again "
                                  "(POST /api/v1/sessions)")
        return account

    async def password_matches(self, account: Account, password: str) -> bool:
        """U7: a single admin re-enters the password to approve his own force request."""
        async with self.uow.engine.connect() as conn:
            stored = await self.accounts.get(conn, account.username)
        return await asyncio.to_thread(
            self.passwords.verify, stored.password_hash if stored else None, password)
