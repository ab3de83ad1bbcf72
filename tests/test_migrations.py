from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot.core.db import Database
from models import Base


def test_upgrade_creates_every_table(migrated_db: Database) -> None:
    tables = set(inspect(migrated_db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert migrated_db.is_current()


def test_models_and_migrations_agree(migrated_db: Database) -> None:
    with migrated_db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = [d for d in compare_metadata(ctx, Base.metadata) if d[0] not in ("remove_table",)]
    assert diff == [], diff


def test_chinese_names_round_trip(db: Database) -> None:
    from models import Region

    with db.unit_of_work() as s:
        s.add(Region(code="gz", name="广州 O'Brien & Sons; DROP TABLE customers;-- 😀"))
    with db.unit_of_work() as s:
        assert s.query(Region).one().name == "广州 O'Brien & Sons; DROP TABLE customers;-- 😀"
