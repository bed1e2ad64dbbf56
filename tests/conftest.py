"""Shared fixtures: settings, runtimes on SQLite and PostgreSQL, and the mandatory-skip policy.

PostgreSQL comes from ``EMPI_TEST_POSTGRES_URL`` (an admin URL; each test session creates its own
database). Where it is unset the PostgreSQL tests skip, visibly, unless ``EMPI_REQUIRE_POSTGRES=1``
(set by CI), in which case they fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from empi.config import Settings, parse_settings
from empi.db import migrate, normalise_url
from empi.models import Base
from empi.runtime import Runtime

REPO = Path(__file__).resolve().parent.parent


def _shared_dir() -> Path:
    """../shared beside the checkout; EMPI_SHARED_DIR overrides (CI clones elsewhere on this machine)."""
    for candidate in (os.environ.get("EMPI_SHARED_DIR"), REPO.parent / "shared", "/work/shared"):
        if candidate and (Path(candidate) / "conformance").is_dir():
            return Path(candidate)
    return REPO.parent / "shared"


SHARED = _shared_dir()
CONFORMANCE = SHARED / "conformance"

NIST_CONFIG: dict[str, Any] = {
    "service": {"application": "EMPI", "facility": "EMPI"},
    "regional": {"namespace": "EMPI", "universal_id": "2.25.1234567", "universal_id_type": "ISO"},
    "domains": [
        {"namespace": "NIST2010", "universal_id": "2.16.840.1.113883.3.72.5.9.1", "sources": ["NIST_SENDER|NIST"]},
        {"namespace": "NIST2010-2", "universal_id": "2.16.840.1.113883.3.72.5.9.2", "sources": ["NIST_SENDER|NIST"]},
        {"namespace": "NIST2010-3", "universal_id": "2.16.840.1.113883.3.72.5.9.3", "sources": ["NIST_SENDER|NIST"]},
        {"namespace": "IHE2010", "universal_id": "1.3.6.1.4.1.21367.2010.1.1", "sources": ["NIST_SENDER|NIST"]},
        {"namespace": "ONHCN", "universal_id": "2.16.840.1.113883.4.59", "health_card": True},
        {"namespace": "HOSPA", "universal_id": "2.25.1001", "sources": ["HIS|HOSPA"]},
        {"namespace": "HOSPB", "universal_id": "2.25.1002", "sources": ["RIS|HOSPB"]},
    ],
}


def require(flag: str, reason: str) -> None:
    """Skip, or fail when the environment makes the test mandatory (CI)."""
    if os.environ.get(flag) == "1":
        pytest.fail(f"{reason} (and {flag}=1 makes this test mandatory)")
    pytest.skip(reason)


def nist_settings(**overrides: Any) -> Settings:
    return replace(parse_settings(NIST_CONFIG), **overrides)


@pytest.fixture(scope="session")
def postgres_admin_url() -> str | None:
    return os.environ.get("EMPI_TEST_POSTGRES_URL")


@pytest.fixture(scope="session")
def postgres_url(postgres_admin_url: str | None) -> Iterator[str]:
    """A migrated PostgreSQL database of this test session's own."""
    if not postgres_admin_url:
        require("EMPI_REQUIRE_POSTGRES", "EMPI_TEST_POSTGRES_URL is not set")
    admin = create_engine(normalise_url(postgres_admin_url), isolation_level="AUTOCOMMIT")
    name = f"empi_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # server down
        admin.dispose()
        require("EMPI_REQUIRE_POSTGRES", f"PostgreSQL unreachable: {exc.__class__.__name__}")
    base = normalise_url(postgres_admin_url).rsplit("/", 1)[0]
    url = f"{base}/{name}"
    migrate(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


def truncate_all(url: str) -> None:
    engine = create_engine(normalise_url(url))
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=[pytest.param("sqlite", marks=pytest.mark.sqlite),
                        pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database on the parametrised backend."""
    if backend == "postgres":
        url = str(request.getfixturevalue("postgres_url"))
        truncate_all(url)
        return url
    template: Path = request.getfixturevalue("sqlite_template")
    target = tmp_path / "empi.db"
    shutil.copy(template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def make_runtime(database_url: str) -> Iterator[Callable[..., Runtime]]:
    """Build runtimes on the test database: ``make_runtime(settings=None, **setting_overrides)``."""
    made: list[Runtime] = []

    def factory(settings: Settings | None = None, **overrides: Any) -> Runtime:
        s = settings or nist_settings()
        s = replace(s, database_url=database_url, **overrides)
        rt = Runtime.start(s, auto_migrate=False)
        made.append(rt)
        return rt

    yield factory
    for rt in made:
        rt.close()


@pytest.fixture
def rt(make_runtime: Callable[..., Runtime]) -> Runtime:
    return make_runtime()
