"""Accounts, sessions and logins (S1, S6, U1). Passwords are hashed with argon2 in a thread;
only the sha256 of a bearer token is stored."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from orchestrator.adapters.accounts_repository import StoredUser, UserExists
from orchestrator.domain.accounts import (
    LOGIN_FAILURE_WINDOW,
    Account,
    Role,
    Unauthenticated,
    check_new_account,
    login_retry_after,
    may_create_user,
    session_expires,
)
from orchestrator.domain.model import InvalidCommand
from orchestrator.service_layer.context import Context
from orchestrator.service_layer.errors import AlreadyExists, LoginThrottled

COMMAND_LINE = "command-line"


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    account: Account
    expires_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccountHandlers:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def create_user(self, creator: Account | None, username: str, password: str,
                          role: Role, sites: Sequence[str]) -> Account:
        """``creator`` None = the command line on the server (the first admin, S1)."""
        ctx = self.ctx
        sites = tuple(dict.fromkeys(sites))
        try:
            check_new_account(username, password, role, sites)
        except ValueError as exc:
            raise InvalidCommand(str(exc)) from None
        if creator is not None:
            may_create_user(creator, role, sites)
        account = Account(username, role, () if role is Role.SUPPORT else sites)
        password_hash = await asyncio.to_thread(ctx.passwords.hash, password)  # type: ignore[union-attr]
        try:
            async with ctx.engine.begin() as conn:
                await ctx.accounts.add(conn, account, password_hash, ctx.clock())
                for site in account.sites or (None,):
                    await ctx.audit(conn, creator or COMMAND_LINE, "user.created",
                                    site_id=None if site == "*" else site,
                                    username=username, role=role.value, sites=list(sites))
        except UserExists:
            raise AlreadyExists(f"user {username!r} exists already") from None
        return account

    async def users(self, viewer: Account) -> list[StoredUser]:
        async with self.ctx.engine.connect() as conn:
            users = await self.ctx.accounts.all(conn)
        if viewer.role is Role.SUPPORT:
            return users
        return [u for u in users if any(viewer.covers(s) for s in u.account.sites)]

    async def login(self, username: str, password: str, client: str) -> Session:
        ctx = self.ctx
        now = ctx.clock()
        async with ctx.engine.connect() as conn:
            failures = await ctx.accounts.failures(conn, username, client,
                                                   now - LOGIN_FAILURE_WINDOW)
            stored = await ctx.accounts.get(conn, username)
        retry_after = login_retry_after(failures, now)
        if retry_after is not None:
            await ctx.audit_alone(username, "login", outcome="refused: rate limited",
                                  client=client)
            raise LoginThrottled(retry_after)
        valid = await asyncio.to_thread(
            ctx.passwords.verify,  # type: ignore[union-attr]
            stored.password_hash if stored else None, password)
        if not valid or stored is None or stored.disabled:
            async with ctx.engine.begin() as conn:
                await ctx.accounts.add_failure(conn, username, client, now)
                await ctx.audit(conn, username, "login", outcome="failed: wrong credentials",
                                client=client)
            raise Unauthenticated("wrong username or password")
        token = ctx.tokens()
        expires_at = session_expires(now)
        async with ctx.engine.begin() as conn:
            await ctx.accounts.clear_failures(conn, username, client)
            await ctx.accounts.add_session(conn, token_hash(token), username, now, expires_at)
            await ctx.audit(conn, stored.account, "login", client=client)
        return Session(token, stored.account, expires_at)

    async def logout(self, token: str, account: Account) -> None:
        async with self.ctx.engine.begin() as conn:
            await self.ctx.accounts.end_session(conn, token_hash(token))
            await self.ctx.audit(conn, account, "logout")

    async def authenticate(self, token: str) -> Account:
        async with self.ctx.engine.connect() as conn:
            account = await self.ctx.accounts.session_account(conn, token_hash(token),
                                                              self.ctx.clock())
        if account is None:
            raise Unauthenticated("the session is unknown or expired: log in again "
                                  "(POST /api/v1/sessions)")
        return account

    async def password_matches(self, account: Account, password: str) -> bool:
        """U7: a single admin re-enters the password to approve his own force request."""
        async with self.ctx.engine.connect() as conn:
            stored = await self.ctx.accounts.get(conn, account.username)
        return await asyncio.to_thread(
            self.ctx.passwords.verify,  # type: ignore[union-attr]
            stored.password_hash if stored else None, password)
