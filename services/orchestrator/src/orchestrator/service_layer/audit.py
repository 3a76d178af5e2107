"""U15, A7: the audit log — who (and as what), when, what, with what outcome.

An action is recorded in the transaction of the action itself (``record(tx, …)``), so an entry
exists exactly when the action happened; a refused or failed action, which changes nothing
else, is recorded in a transaction of its own (``record_alone``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from lockstep_shared.unit_of_work import Tx, UnitOfWork
from orchestrator.adapters.audit_repository import AuditRepository
from orchestrator.domain.accounts import Account
from orchestrator.domain.audit import AuditEntry

Actor = Account | str  # an account, or a service / the command line by name


class AuditLog:
    def __init__(self, uow: UnitOfWork, entries: AuditRepository, *,
                 clock: Callable[[], datetime]) -> None:
        self.uow = uow
        self.entries = entries
        self.clock = clock

    async def record(self, tx: Tx, actor: Actor, action: str, *, outcome: str = "ok",
                     site_id: str | None = None, update_id: str | None = None,
                     **details: Any) -> None:
        name, role = ((actor.username, actor.role.value) if isinstance(actor, Account)
                      else (actor, None))
        await self.entries.add(tx.conn, AuditEntry(
            at=self.clock(), actor=name, role=role, action=action, outcome=outcome,
            site_id=site_id, update_id=update_id, details=details))

    async def record_alone(self, actor: Actor, action: str, **kwargs: Any) -> None:
        async with self.uow.begin() as tx:
            await self.record(tx, actor, action, **kwargs)
