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


def test_revision_0004_rebuilds_the_blocking_keys_both_ways(fresh_url: str) -> None:
    """Records stored under the first keys get the paired keys on upgrade, and the first keys back on downgrade."""
    from dataclasses import replace

    from sqlalchemy import select

    from empi import patients
    from empi.models import BlockingKey, SourceRecord
    from empi.records import scoring_view
    from empi.runtime import Runtime
    from scoring import blocking_keys
    from tests.conftest import nist_settings
    from tests.core.factories import feed, person

    cfg = alembic_config(fresh_url)
    command.upgrade(cfg, "head")
    rt = Runtime.start(replace(nist_settings(), database_url=fresh_url), auto_migrate=False)
    try:
        people = [person(), person(given_name="Tobias", birth_date=None), person(family_name="Oyelaran", phone=None),
                  person(given_name="Ilse", family_name="Marchetti", birth_date="1955-11-02", address_line=None)]
        with rt.write() as s:
            for i, p in enumerate(people):
                patients.register(s, feed(f"M{i}", "NIST2010", p), rt=rt)

        def stored() -> tuple[dict[int, set[str]], dict[int, set[str]]]:
            with rt.read() as s:
                keys: dict[int, set[str]] = {}
                for rid, key in s.execute(select(BlockingKey.record_id, BlockingKey.key)):
                    keys.setdefault(rid, set()).add(key)
                views = {rec.id: blocking_keys(scoring_view(rec)) for rec in s.scalars(select(SourceRecord))}
            return keys, views

        keys, views = stored()
        assert keys == views and len(keys) == len(people)
        command.downgrade(cfg, "0003")
        old, _ = stored()
        assert set(old) == set(keys)
        kinds = {key.split(":")[0] for ks in old.values() for key in ks}
        assert {"db", "sx", "nm", "ad"} <= kinds and not kinds & {"di", "ny", "nd", "ap", "ai"}
        assert "db:19800314" in old[min(old)]  # the first person's birth date alone
        command.upgrade(cfg, "head")
        keys, views = stored()
        assert keys == views
    finally:
        rt.close()
