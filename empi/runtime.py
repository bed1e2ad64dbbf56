"""The running service's shared state: settings, domain registry, scorecard, engine and sessions.

Adapters (MLLP, HTTP, CLI) build one ``Runtime`` and open units of work through it; services receive
it as ``rt`` to read configuration and the scorecard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from empi.config import DomainRegistry, Settings
from empi.db import (
    WalCheckpointer,
    has_schema,
    is_sqlite,
    make_engine,
    make_read_sessionmaker,
    make_sessionmaker,
    migrate,
    needs_migration,
    sqlite_file,
    unit_of_work,
    write_lock,
)

# A change listener runs inside the writing transaction, after the change, with the ids of the
# persons whose cross-references changed (ITI-10 notifications use this to fill the outbox).
ChangeListener = Callable[[Session, "Runtime", Sequence[int]], None]


@dataclass
class Runtime:
    settings: Settings
    registry: DomainRegistry
    card: Any  # scoring.Scorecard
    engine: Engine
    sessions: sessionmaker[Session]
    listeners: list[ChangeListener] = field(default_factory=list)
    read_sessions: sessionmaker[Session] | None = None
    checkpointer: WalCheckpointer | None = None

    @classmethod
    def start(cls, settings: Settings, *, auto_migrate: bool | None = None) -> Runtime:
        """Build the runtime. A SQLite database is migrated on first start (``auto_migrate`` None)."""
        from scoring import load_scorecard

        database_file = sqlite_file(settings.database_url)
        engine = make_engine(settings.database_url)
        if auto_migrate or (auto_migrate is None and is_sqlite(engine) and (not has_schema(engine)
                                                                              or needs_migration(engine))):
            migrate(settings.database_url)
        card = load_scorecard(settings.scorecard) if settings.scorecard else load_scorecard()
        rt = cls(settings=settings, registry=settings.registry, card=card, engine=engine,
                 sessions=make_sessionmaker(engine), read_sessions=make_read_sessionmaker(engine))
        if database_file is not None:
            rt.checkpointer = WalCheckpointer(database_file, lock=write_lock(engine))
        if settings.consumers:  # ITI-10: queue update notifications in the outbox
            from empi.notify import on_change

            rt.listeners.append(on_change)
        if settings.audit_syslog:  # ATNA: RFC 5424 copies of audit events to a collector
            from empi.syslog import install

            install(settings.audit_syslog, app=settings.application)
        return rt

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def write(self) -> Iterator[Session]:
        with unit_of_work(self.sessions, write=True) as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with unit_of_work(self.read_sessions or self.sessions, write=False) as session:
            yield session

    def changed(self, session: Session, person_ids: Sequence[int]) -> None:
        ids = sorted({p for p in person_ids if p is not None})
        if ids:
            for listener in self.listeners:
                listener(session, self, ids)

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.close()
            self.checkpointer = None
        if self.read_sessions is not None and self.read_sessions.kw["bind"] is not self.engine:
            self.read_sessions.kw["bind"].dispose()
        self.engine.dispose()
