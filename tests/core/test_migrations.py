"""Migrations run on both backends: upgrade, no drift from the models, downgrade, upgrade again."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from empi.db import alembic_config, normalise_url
from empi.models import Base


@pytest.fixture
def fresh_url(backend: str, request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    import uuid

    from sqlalchemy import text

    admin_url = request.getfixturevalue("postgres_url")
    base = normalise_url(admin_url).rsplit("/", 1)[0]
    name = f"empi_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    request.addfinalizer(drop)
    return f"{base}/{name}"


def test_upgrade_matches_models_then_downgrades_and_upgrades_again(fresh_url: str) -> None:
    cfg = alembic_config(fresh_url)
    command.upgrade(cfg, "head")
    engine = create_engine(normalise_url(fresh_url))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(cfg, "head")
    assert {"person", "source_record", "link", "link_event", "review_task", "blocking_key"} <= set(
        inspect(engine).get_table_names())
    engine.dispose()
