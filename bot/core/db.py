"""Engine, sessions, one unit of work, and migrations on start-up."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from importlib.resources import files
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

_SQLITE_BUSY_MS = 30000
# SQLite: every transaction starts with BEGIN IMMEDIATE (one writer at a time), so a second pooled
# connection in the same process never runs at the same time as the first; it only waits in SQLite's
# busy handler (sleep and retry) and keeps its own page cache and statement cache. One connection per
# engine: threads queue for it in the pool (first come, first served, woken at once) instead, and the
# process keeps one warm cache. Measured with bench/memory.py: the default pool (5 + 10 overflow,
# 12 connections open under load) left the server's RSS rising steadily (+5 % in 100 s of paced
# load, most of it malloc memory freed but kept by glibc's arenas, not live objects); one
# connection: +1.4 % and flattening, with as many reports handled.
# A thread that needed a second connection while holding one would already wait out the busy
# timeout on BEGIN IMMEDIATE; with one connection it waits out the same timeout in the pool.
SQLITE_POOL_SIZE = 1
# Page cache per connection, KiB (SQLite's usual default, stated so a build's default cannot change
# it); no memory-mapped I/O, whose pages would count in the server's RSS as the database grows.
SQLITE_CACHE_KIB = 2000


def normalize_url(url: str) -> str:
    """Give MySQL/MariaDB utf8mb4 even when the URL does not ask for it."""
    parsed = make_url(url)
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        query = dict(parsed.query)
        query["charset"] = "utf8mb4"
        parsed = parsed.set(query=query)
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine tuned for the backend (SQLite: WAL, foreign keys, one pooled connection;
    server databases: pool pre-ping)."""
    url = normalize_url(url)
    backend = make_url(url).get_backend_name()
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if backend == "sqlite":
        kwargs["connect_args"] = {"timeout": _SQLITE_BUSY_MS / 1000, "check_same_thread": False}
        if not _sqlite_in_memory(url):  # in-memory databases keep SQLAlchemy's one-per-thread pool
            kwargs["pool_size"] = SQLITE_POOL_SIZE
            kwargs["max_overflow"] = 0
            kwargs["pool_timeout"] = _SQLITE_BUSY_MS / 1000
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["pool_size"] = 10
        kwargs["max_overflow"] = 20
        kwargs["pool_recycle"] = 1800
    engine = create_engine(url, **kwargs)
    if backend == "postgresql":
        event.listen(engine, "connect", _postgres_settings)
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_in_memory(url: str) -> bool:
    parsed = make_url(url)
    return parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory"


def _postgres_settings(dbapi_conn: Any, _record: Any) -> None:
    # psycopg prepares a statement on the server once it has run 5 times on a connection; PostgreSQL may then
    # keep one generic plan for every parameter value. For the console's sums (a region's thousand teams as
    # one array, a span of days) the generic plan read every row: a 17 ms query took 1.1 s from its sixth run
    # on. Planned for the values each time; the parse is still saved.
    with dbapi_conn.cursor() as cur:
        cur.execute("SET plan_cache_mode = force_custom_plan")
    dbapi_conn.commit()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy issue BEGIN itself so that BEGIN IMMEDIATE serialises writers.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    if dbapi_conn.execute("PRAGMA database_list").fetchone()[2]:
        cur.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: no fsync per commit, still never corrupt; a power cut may undo the last commits.
        cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
    cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cur.execute("PRAGMA mmap_size=0")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


# ---------------------------------------------------------------------------
# reads beside a session

_WROTE = "salesbot.wrote"
_READERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="salesbot-read")


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context: Any) -> None:
    session.info[_WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _executed(state: Any) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _ended(session: Session) -> None:
    session.info.pop(_WROTE, None)


def one_core(session: Session) -> None:
    """On PostgreSQL, no parallel workers for this transaction's statements: a page's statements (and those it
    reads beside them) each use one core, so several pages and the request's own Python share the machine
    rather than one page's sums taking every core. Elsewhere: nothing."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection().exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")


def read_beside(session: Session, statement: Any) -> Callable[[], list[Any]]:
    """Start a read-only statement now and return a function that gives its rows.

    On PostgreSQL, when the session's transaction has written nothing, it runs at once on another pooled
    connection, while the caller goes on with its own statements and Python: a page of several independent sums
    waits for the slowest, not for all of them in turn. This changes nothing that the page sees: at READ
    COMMITTED (PostgreSQL's default, ours) every statement reads its own snapshot of what is committed, on any
    connection. Elsewhere (SQLite, MariaDB whose REPEATABLE READ keeps one snapshot a transaction), or after
    the session wrote (another connection would not see it), it runs on the session's own connection when the
    rows are asked for."""
    if session.info.get(_WROTE) or session.get_bind().dialect.name != "postgresql":
        return lambda: list(session.connection().execute(statement).all())
    engine = session.get_bind()

    def run() -> list[Any]:
        with engine.connect() as conn:
            # one core for it, as for the request's own statements (one_core)
            conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
            rows = list(conn.execute(statement).all())
            conn.rollback()
            return rows

    future = _READERS.submit(run)
    return future.result


class Database:
    """An engine and its session factory; the one place sessions come from."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(url, echo=echo)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """Yield a session; commit on success, roll back on any error, always close."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def upgrade(self) -> None:
        """Apply every migration (Alembic) up to head."""
        from alembic import command

        command.upgrade(alembic_config(self.url, self.engine), "head")

    def is_current(self) -> bool:
        """Return whether the database is at the newest migration."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(alembic_config(self.url, self.engine))
        with self.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
        return current == set(script.get_heads())

    def ensure_schema(self) -> None:
        """Upgrade the database when it is empty or behind."""
        if not self.is_current():
            self.upgrade()

    def has_tables(self) -> bool:
        return bool(inspect(self.engine).get_table_names())

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str, engine: Engine | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(files("migrations")))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg
