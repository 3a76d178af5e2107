"""Stream tickets (``domain.stream_tickets``): asked for with the session, redeemed by the live
stream of one site, which then follows the session they were signed with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from lockstep_shared.unit_of_work import UnitOfWork
from orchestrator.adapters.accounts_repository import AccountsRepository
from orchestrator.domain import stream_tickets
from orchestrator.domain.accounts import Account, Permission, Unauthenticated, authorize
from orchestrator.service_layer.accounts import token_hash

REFUSED = "the stream ticket is unknown or expired: ask for a new one (POST …/stream-tickets)"


@dataclass(frozen=True, slots=True)
class IssuedTicket:
    ticket: str
    expires_at: datetime


class StreamTicketHandlers:
    def __init__(self, uow: UnitOfWork, accounts: AccountsRepository, *,
                 clock: Callable[[], datetime]) -> None:
        self.uow = uow
        self.accounts = accounts
        self.clock = clock

    def issue(self, token: str, account: Account, site_id: str) -> IssuedTicket:
        """For an authenticated session (``token``) that may read the site."""
        authorize(account, Permission.READ, site_id)
        now = self.clock()
        ticket = stream_tickets.issue(token_hash(token), account.username, site_id, now)
        expires = stream_tickets.read(ticket).expires
        return IssuedTicket(ticket, datetime.fromtimestamp(expires, UTC))

    async def redeem(self, ticket: str, site_id: str) -> str:
        """The session (its token's sha256) a live ticket for this site was signed with."""
        now = self.clock()
        try:
            read = stream_tickets.read(ticket)
        except stream_tickets.InvalidTicket:
            raise Unauthenticated(REFUSED) from None
        if read.site_id != site_id or read.expired(now):
            raise Unauthenticated(REFUSED)
        async with self.uow.engine.connect() as conn:
            sessions = await self.accounts.live_sessions(conn, read.username, now)
        for session in sessions:
            if read.signed_by(session):
                return session
        raise Unauthenticated(REFUSED)

    async def account(self, session_sha256: str) -> Account:
        """The session's account while the session lasts (the stream re-checks it)."""
        async with self.uow.engine.connect() as conn:
            account = await self.accounts.session_account(conn, session_sha256, self.clock())
        if account is None:
            raise Unauthenticated("the session is unknown or expired: log in again")
        return account
