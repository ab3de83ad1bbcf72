"""Regenerate the initial Alembic migration from the models (only while nothing is released)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command

from bot.core.db import alembic_config

VERSIONS = Path(__file__).resolve().parents[1] / "migrations" / "versions"


def main() -> None:
    for old in VERSIONS.glob("*initial_schema.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = alembic_config(f"sqlite:///{tmp}/gen.db")
        cfg.set_main_option("file_template", "2026_11_23_%%(slug)s")
        command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")


if __name__ == "__main__":
    main()
