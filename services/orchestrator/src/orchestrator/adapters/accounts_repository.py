"""SQL for accounts, bearer sessions and failed logins (S1, S6)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep_shared.db import lock_keys
from orchestrator.adapters.tables import aware, login_failures, sessions, users
from orchestrator.domain.accounts import Account, Role, StoredUser, UserExists


class AccountsRepository:
    async def add(self, conn: AsyncConnection, account: Account, password_hash: str,
                  now: datetime) -> None:
        try:
            async with conn.begin_nested():
                await conn.execute(insert(users).values(
                    username=account.username, password_hash=password_hash,
                    role=account.role.value, site_ids=list(account.sites), created_at=now,
                    disabled=False))
        except IntegrityError:
            raise UserExists(account.username) from None

    async def get(self, conn: AsyncConnection, username: str) -> StoredUser | None:
        row = (await conn.execute(select(users).where(users.c.username == username))).first()
        if row is None:
            return None
        return StoredUser(Account(row.username, Role(row.role), tuple(row.site_ids)),
                          row.password_hash, row.disabled, aware(row.created_at))  # type: ignore[arg-type]

    async def all(self, conn: AsyncConnection) -> list[StoredUser]:
        rows = await conn.execute(select(users).order_by(users.c.username))
        return [StoredUser(Account(r.username, Role(r.role), tuple(r.site_ids)),
                           r.password_hash, r.disabled, aware(r.created_at))  # type: ignore[arg-type]
                for r in rows]

    async def site_admins(self, conn: AsyncConnection, site_id: str) -> int:
        """How many enabled admins the site has (U7: one admin → password re-entry)."""
        rows = await conn.execute(select(users.c.site_ids).where(
            users.c.role == Role.ADMIN.value, users.c.disabled.is_(False)))
        return sum(1 for (sites,) in rows if site_id in sites or "*" in sites)

    # --- sessions -----------------------------------------------------------------------

    async def add_session(self, conn: AsyncConnection, token_sha256: str, username: str,
                          now: datetime, expires_at: datetime) -> None:
        await conn.execute(delete(sessions).where(sessions.c.username == username,
                                                  sessions.c.expires_at < now))
        await conn.execute(insert(sessions).values(token_sha256=token_sha256, username=username,
                                                   created_at=now, expires_at=expires_at))

    async def session_account(self, conn: AsyncConnection, token_sha256: str,
                              now: datetime) -> Account | None:
        row = (await conn.execute(
            select(users.c.username, users.c.role, users.c.site_ids, sessions.c.expires_at)
            .join(sessions, sessions.c.username == users.c.username)
            .where(sessions.c.token_sha256 == token_sha256, users.c.disabled.is_(False))
        )).first()
        if row is None or aware(row.expires_at) <= now:  # type: ignore[operator]
            return None
        return Account(row.username, Role(row.role), tuple(row.site_ids))

    async def live_sessions(self, conn: AsyncConnection, username: str,
                            now: datetime) -> list[str]:
        """The token hashes of the user's sessions that have not expired."""
        rows = await conn.execute(select(sessions.c.token_sha256, sessions.c.expires_at).where(
            sessions.c.username == username))
        return [r.token_sha256 for r in rows if aware(r.expires_at) > now]  # type: ignore[operator]

    async def end_session(self, conn: AsyncConnection, token_sha256: str) -> None:
        await conn.execute(delete(sessions).where(sessions.c.token_sha256 == token_sha256))

    # --- failed logins (S6) -------------------------------------------------------------

    async def lock_logins(self, conn: AsyncConnection, username: str, client: str) -> None:
        """Logins of this username or from this client wait for each other until commit, so
        counting the failures and recording an attempt is one step."""
        await lock_keys(conn, f"orchestrator/login/user/{username[:100]}",
                        f"orchestrator/login/client/{client[:100]}")

    async def failures(self, conn: AsyncConnection, username: str, client: str,
                       since: datetime) -> dict[str, list[datetime]]:
        """The recent failures of the username (from any client) and of the client (for any
        username)."""
        found: dict[str, list[datetime]] = {}
        for key, column, value in (("user", login_failures.c.username, username),
                                   ("client", login_failures.c.client, client)):
            rows = await conn.execute(select(login_failures.c.at).where(
                column == value[:100], login_failures.c.at > since))
            found[key] = [aware(r.at) for r in rows]  # type: ignore[misc]
        return found

    async def add_failure(self, conn: AsyncConnection, username: str, client: str,
                          now: datetime, forget_before: datetime | None = None) -> int:
        """Record a failure (or an attempt being checked); failures older than
        ``forget_before`` count no more: deleted (the audit keeps every login)."""
        if forget_before is not None:
            await conn.execute(delete(login_failures).where(login_failures.c.at < forget_before))
        return int((await conn.execute(insert(login_failures).values(
            username=username[:100], client=client[:100], at=now
        ).returning(login_failures.c.id))).scalar_one())

    async def forget_failure(self, conn: AsyncConnection, failure_id: int) -> None:
        await conn.execute(delete(login_failures).where(login_failures.c.id == failure_id))

    async def clear_failures(self, conn: AsyncConnection, username: str, client: str) -> None:
        await conn.execute(delete(login_failures).where(
            login_failures.c.username == username[:100], login_failures.c.client == client[:100]))

    async def count(self, conn: AsyncConnection) -> int:
        return int((await conn.execute(select(func.count()).select_from(users))).scalar_one())
