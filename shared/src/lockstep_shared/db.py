"""Database engines for both modes: PostgreSQL via asyncpg, SQLite via aiosqlite.

On PostgreSQL every service lives in its own schema (X2), chosen through ``search_path`` so
table names stay plain; on SQLite every service has its own file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, event, literal_column, text
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql import Executable, Select
from sqlalchemy.sql.dml import Insert, UpdateBase

from lockstep_shared.envelope import Envelope

READ_ONLY = "lockstep_read_only"


class ConcurrentUpdate(Exception):
    """An optimistic-concurrency check lost a race; the whole unit of work is retried."""


_UNAVAILABLE_NAMES = frozenset({
    # asyncpg: the server is down, restarting, shutting down or refusing connections
    "PostgresConnectionError", "ConnectionDoesNotExistError", "ConnectionFailureError",
    "ConnectionRejectionError", "CannotConnectNowError", "AdminShutdownError",
    "CrashShutdownError", "TooManyConnectionsError", "ClientCannotConnectError",
    "InterfaceError",
})


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached now (down, restarting, connection
    lost, pool exhausted, SQLite busy) rather than that this piece of work is wrong. Such a
    failure is the infrastructure's, not the message's: it is waited out, never counted against
    a message's delivery budget (issue 9 §2)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError | TimeoutError):
            return True
        if getattr(current, "connection_invalidated", False):
            return True
        if isinstance(current, sqlalchemy_exc.DisconnectionError | sqlalchemy_exc.TimeoutError):
            return True
        if type(current).__name__ in _UNAVAILABLE_NAMES:
            return True
        if isinstance(current, sqlalchemy_exc.OperationalError) and _sqlite_busy(current):
            return True
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else (
            current.__cause__ or current.__context__)
    return False


def _sqlite_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "unable to open database" in text


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` and ``sqlite:///`` URLs and pick the async drivers."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        return url
    raise ValueError(
        f"unsupported database URL {url.split('@')[-1]!r}: use postgresql://… or sqlite:///…"
    )


def is_postgres(engine_or_conn: AsyncEngine | AsyncConnection) -> bool:
    return engine_or_conn.dialect.name == "postgresql"


async def lock_keys(conn: AsyncConnection, *keys: str) -> None:
    """Serialize transactions on these keys until commit (PostgreSQL advisory locks, taken in
    sorted order so two transactions never deadlock; SQLite writers already are serialized by
    ``BEGIN IMMEDIATE``)."""
    if not is_postgres(conn):
        return
    ordered = sorted(set(keys))
    if not ordered:
        return
    # one round trip: a select list is evaluated from left to right
    locks = ", ".join(f"pg_advisory_xact_lock(hashtext(:k{i}))" for i in range(len(ordered)))
    await conn.execute(text(f"SELECT {locks}"), {f"k{i}": key for i, key in enumerate(ordered)})


def create_engine(url: str, *, schema: str, pool_size: int = 10,
                  max_overflow: int | None = None) -> AsyncEngine:
    """``max_overflow`` (default ``pool_size``): connections opened beyond ``pool_size`` when
    busy and closed again when returned. A hot service passes 0 with a larger ``pool_size`` so
    its connections are kept instead of being reopened (a new PostgreSQL backend each time)."""
    url = normalize_url(url)
    if url.startswith("postgresql"):
        return create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size if max_overflow is None else max_overflow,
            pool_recycle=1800,
            connect_args={"server_settings": {"search_path": schema}},
        )
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _sqlite_begin(conn: Any) -> None:
        # Writers take the write lock at BEGIN so two never deadlock upgrading read locks;
        # connections from ``reader(engine)`` only read and begin deferred (WAL: no waiting).
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    # pysqlite's own transaction handling must be off for the explicit BEGIN above.
    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_autocommit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    return engine


def reader(engine: AsyncEngine) -> AsyncEngine:
    """The same engine (same pool) for connections that only read: on SQLite they don't take
    the write lock, so hot read paths (device polls, token checks) never queue behind writers.
    On PostgreSQL they run in autocommit: each statement is its own transaction (as under READ
    COMMITTED anyway), without the BEGIN and ROLLBACK round trips around it (a device's token
    check or poll is one round trip, not three). Writing through it is a bug: SQLite would
    fail the upgrade under contention, PostgreSQL would commit each statement alone."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(**{READ_ONLY: True, "isolation_level": "AUTOCOMMIT"})
    return engine.execution_options(**{READ_ONLY: True})


class DriverQuery:
    """A Core SELECT compiled once for asyncpg and run by the driver itself on a PostgreSQL
    reader connection (``reader``: autocommit), without SQLAlchemy's per-statement work
    (cache key, greenlet bridge, result processing); on any other connection (SQLite, a
    transaction) through SQLAlchemy as usual. For the hottest reads: the parameters are
    ``bindparam``s named in the statement, the rows are tuples in the selected columns'
    order (datetimes come back timezone-aware from PostgreSQL, naive from SQLite). Only for
    parameters asyncpg takes as they are (strings, numbers): no SQLAlchemy type processing."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self.sql, self.order, self.defaults = _for_asyncpg(statement)

    async def all(self, conn: AsyncConnection, **params: Any) -> Sequence[Sequence[Any]]:
        options = conn.sync_connection.get_execution_options() if conn.sync_connection else {}
        if is_postgres(conn) and options.get("isolation_level") == "AUTOCOMMIT":
            driver = (await conn.get_raw_connection()).driver_connection
            values = {**self.defaults, **params}
            return await driver.fetch(self.sql, *(values[name] for name in self.order))
        return (await conn.execute(self.statement, params)).all()

    async def first(self, conn: AsyncConnection, **params: Any) -> Sequence[Any] | None:
        rows = await self.all(conn, **params)
        return rows[0] if rows else None


_ASYNCPG = postgresql.asyncpg.dialect()


def _for_asyncpg(statement: Executable) -> tuple[str, list[str], dict[str, Any]]:
    """The statement's SQL for asyncpg ($1, $2 …), its parameter names in placeholder order
    and the values of its constant parameters."""
    compiled = statement.compile(dialect=_ASYNCPG)
    # constant IN-lists are rendered now, one placeholder per value
    expanded = compiled.construct_expanded_state(dict(compiled.params))
    return expanded.statement, list(expanded.positiontup or ()), dict(expanded.parameters)


class DriverChange:
    """A state change that hits at most one row (an UPDATE by key) and the outbox rows it
    causes, as ONE statement on PostgreSQL: a data-modifying CTE compiled once and run by
    asyncpg itself on an autocommit connection — one round trip, its own transaction, no
    BEGIN / COMMIT — writing the outbox rows only when the change hit its row. SQLite has no
    data-modifying CTE: there ``UnitOfWork.change`` runs ``change`` and then the outbox insert
    in one transaction. Run it with ``UnitOfWork.change``; the parameters are ``bindparam``s
    named in the statement, values asyncpg takes as they are (strings, numbers, booleans,
    timezone-aware datetimes)."""

    def __init__(self, change: UpdateBase, outbox: Table) -> None:
        self.change = change
        sql, self.order, self.defaults = _for_asyncpg(change.returning(literal_column("1")))
        n = len(self.order)
        self.sql = sql  # the change alone (nothing to emit)
        self.sql_emitting = (
            f"WITH changed AS ({sql}) "
            f"INSERT INTO {outbox.name} (message_id, routing_key, body) "
            "SELECT m.message_id, m.routing_key, m.body "
            "FROM (SELECT 1 FROM changed LIMIT 1) AS hit, "
            f"unnest(${n + 1}::varchar[], ${n + 2}::varchar[], ${n + 3}::bytea[]) "
            "WITH ORDINALITY AS m(message_id, routing_key, body, n) "
            "ORDER BY m.n RETURNING 1")

    async def run(self, conn: AsyncConnection, params: dict[str, Any],
                  envelopes: Sequence[Envelope]) -> bool:
        """PostgreSQL, ``conn`` in autocommit: whether the change hit its row (then the
        envelopes are in the outbox, else nothing was written)."""
        driver = (await conn.get_raw_connection()).driver_connection
        values = {**self.defaults, **params}
        args = [values[name] for name in self.order]
        if not envelopes:
            return bool(await driver.fetch(self.sql, *args))
        return bool(await driver.fetch(
            self.sql_emitting, *args, [e.id for e in envelopes],
            [e.routing_key for e in envelopes], [e.to_json() for e in envelopes]))


def insert_ignoring_duplicates(conn: AsyncConnection, table: Table) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` for the connection's dialect."""
    dialect = postgresql if is_postgres(conn) else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def upsert(conn: AsyncConnection, table: Table, keys: list[str], values: dict[str, Any]) -> Insert:
    """``INSERT … ON CONFLICT (keys) DO UPDATE`` setting every non-key column given."""
    dialect = postgresql if is_postgres(conn) else sqlite
    stmt = dialect.insert(table).values(**values)
    updates = {k: stmt.excluded[k] for k in values if k not in keys}
    if not updates:
        return stmt.on_conflict_do_nothing(index_elements=keys)
    return stmt.on_conflict_do_update(index_elements=keys, set_=updates)
