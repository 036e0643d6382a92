"""The database: engine with sane SQLite settings, sessions, and Alembic migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" hook below opens transactions instead
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # Writers that read first (check stock, then take it) start with the write lock, so two of
    # them queue on busy_timeout instead of one failing with "database is locked" mid-way.
    immediate = connection.get_execution_options().get("write_lock", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@dataclass(frozen=True)
class Pool:
    """Connection pool sizes for a server database (ignored for SQLite); see the ROADIE_DATABASE_POOL_* settings."""

    size: int = 10
    max_overflow: int = 20
    timeout_s: float = 30.0
    recycle_s: int = 1800


# Every process that migrates takes this PostgreSQL advisory lock first, so workers started together
# run Alembic one after another (the later ones find the schema at head and do nothing).
MIGRATION_LOCK = 0x526F616469  # "Roadi"
STARTUP_LOCK = 0x526F616470  # held by a process preparing the database (migrate, then seed if empty)


def make_engine(url: str, pool: Pool | None = None) -> Engine:
    """An engine for `url`: SQLite gets WAL, a busy timeout and foreign keys; others a pool."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    pool = pool or Pool()
    return create_engine(
        url,
        pool_size=pool.size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.timeout_s,
        pool_recycle=pool.recycle_s,
        pool_pre_ping=True,
    )


class Database:
    """One engine and its session factory; `session()` is a unit of work that commits or rolls back."""

    def __init__(self, url: str, pool: Pool | None = None) -> None:
        self.url = url
        self.engine = make_engine(url, pool)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writes = sessionmaker(self.engine.execution_options(write_lock=True), expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block ends and rolls back if it raises."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """Like `session()`, for read-then-write work (bookings): it holds the write lock from the start.

        On SQLite that is BEGIN IMMEDIATE; on PostgreSQL the conditional updates and row locks
        the caller takes do the same job, so it is an ordinary transaction.
        """
        with self._writes() as session, session.begin():
            yield session

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (the same migrations on every engine).

        On PostgreSQL the upgrade runs under an advisory lock held for its transaction, so several
        processes migrating at once take turns instead of racing on the same DDL.
        """
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @contextmanager
    def exclusively(self, key: int = STARTUP_LOCK) -> Iterator[None]:
        """Run the block in one process at a time (a PostgreSQL advisory lock; SQLite: no lock).

        Workers started together use it to migrate and seed one after another: the later ones
        find the work done. The lock is held on its own connection and released however the block ends.
        """
        if self.is_sqlite:
            yield
            return
        with self.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()

    def dispose(self) -> None:
        self.engine.dispose()
