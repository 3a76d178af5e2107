"""SQL for accounts, bearer sessions and failed logins (S1, S6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from orchestrator.adapters.sites_repository import aware
from orchestrator.adapters.tables import LOGIN_FAILURES, SESSIONS, USERS
from orchestrator.domain.accounts import Account, Role


class UserExists(Exception):
    pass


@dataclass(frozen=True, slots=True)
class StoredUser:
    account: Account
    password_hash: str
    disabled: bool
    created_at: datetime


class AccountsRepository:
    async def add(self, conn: AsyncConnection, account: Account, password_hash: str,
                  now: datetime) -> None:
        try:
            async with conn.begin_nested():
                await conn.execute(insert(USERS).values(
                    username=account.username, password_hash=password_hash,
                    role=account.role.value, site_ids=list(account.sites), created_at=now,
                    disabled=False))
        except IntegrityError:
            raise UserExists(account.username) from None

    async def get(self, conn: AsyncConnection, username: str) -> StoredUser | None:
        row = (await conn.execute(select(USERS).where(USERS.c.username == username))).first()
        if row is None:
            return None
        return StoredUser(Account(row.username, Role(row.role), tuple(row.site_ids)),
                          row.password_hash, row.disabled, aware(row.created_at))  # type: ignore[arg-type]

    async def all(self, conn: AsyncConnection) -> list[StoredUser]:
        rows = await conn.execute(select(USERS).order_by(USERS.c.username))
        return [StoredUser(Account(r.username, Role(r.role), tuple(r.site_ids)),
                           r.password_hash, r.disabled, aware(r.created_at))  # type: ignore[arg-type]
                for r in rows]

    async def site_admins(self, conn: AsyncConnection, site_id: str) -> int:
        """How many enabled admins the site has (U7: one admin → password re-entry)."""
        rows = await conn.execute(select(USERS.c.site_ids).where(
            USERS.c.role == Role.ADMIN.value, USERS.c.disabled.is_(False)))
        return sum(1 for (sites,) in rows if site_id in sites or "*" in sites)

    # --- sessions -----------------------------------------------------------------------

    async def add_session(self, conn: AsyncConnection, token_sha256: str, username: str,
                          now: datetime, expires_at: datetime) -> None:
        await conn.execute(delete(SESSIONS).where(SESSIONS.c.username == username,
                                                  SESSIONS.c.expires_at < now))
        await conn.execute(insert(SESSIONS).values(token_sha256=token_sha256, username=username,
                                                   created_at=now, expires_at=expires_at))

    async def session_account(self, conn: AsyncConnection, token_sha256: str,
                              now: datetime) -> Account | None:
        row = (await conn.execute(
            select(USERS.c.username, USERS.c.role, USERS.c.site_ids, SESSIONS.c.expires_at)
            .join(SESSIONS, SESSIONS.c.username == USERS.c.username)
            .where(SESSIONS.c.token_sha256 == token_sha256, USERS.c.disabled.is_(False))
        )).first()
        if row is None or aware(row.expires_at) <= now:  # type: ignore[operator]
            return None
        return Account(row.username, Role(row.role), tuple(row.site_ids))

    async def end_session(self, conn: AsyncConnection, token_sha256: str) -> None:
        await conn.execute(delete(SESSIONS).where(SESSIONS.c.token_sha256 == token_sha256))

    # --- failed logins (S6) -------------------------------------------------------------

    async def failures(self, conn: AsyncConnection, username: str, client: str,
                       since: datetime) -> list[datetime]:
        rows = await conn.execute(select(LOGIN_FAILURES.c.at).where(
            LOGIN_FAILURES.c.username == username, LOGIN_FAILURES.c.client == client,
            LOGIN_FAILURES.c.at > since))
        return [aware(r.at) for r in rows]  # type: ignore[misc]

    async def add_failure(self, conn: AsyncConnection, username: str, client: str,
                          now: datetime) -> None:
        await conn.execute(insert(LOGIN_FAILURES).values(username=username[:100],
                                                         client=client[:100], at=now))

    async def clear_failures(self, conn: AsyncConnection, username: str, client: str) -> None:
        await conn.execute(delete(LOGIN_FAILURES).where(LOGIN_FAILURES.c.username == username,
                                                        LOGIN_FAILURES.c.client == client))

    async def count(self, conn: AsyncConnection) -> int:
        return int((await conn.execute(select(func.count()).select_from(USERS))).scalar_one())
