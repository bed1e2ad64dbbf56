"""The HTTP application factory.

``create_app(rt)`` builds the FastAPI app around a ready :class:`empi.runtime.Runtime` (tests and
``empi serve`` pass one in); routers from the feature packages are mounted from ``ROUTERS``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from empi.runtime import Runtime

log = logging.getLogger("empi.http")

# Each entry is "module:attribute" naming an APIRouter, or a function (app) -> None that installs itself.
ROUTERS: list[str] = ["api.review:install", "api.fhir.audit:install", "api.fhir.router:install"]


def create_app(rt: Runtime) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = FastAPI(title="EMPI", version="0.1.0", lifespan=lifespan,
                  description="Enterprise Master Patient Index: IHE PIX/PDQ, PIXm/PDQm, steward review queue.")
    app.state.rt = rt

    @app.get("/health", tags=["service"])
    def health() -> JSONResponse:
        try:
            with rt.read() as session:
                session.execute(text("SELECT 1"))
            db = "ok"
        except Exception:  # the health check reports, it never raises
            log.exception("health check: database unreachable")
            db = "unreachable"
        body = {"status": "ok" if db == "ok" else "degraded", "database": db, "backend": rt.engine.dialect.name,
                "domains": len(rt.registry.domains), "scorecard": f"{rt.card.id}@{rt.card.version}"}
        return JSONResponse(body, status_code=200 if db == "ok" else 503)

    for spec in ROUTERS:
        module_name, _, attr = spec.partition(":")
        target = getattr(importlib.import_module(module_name), attr)
        if callable(target) and not hasattr(target, "routes"):
            target(app)
        else:
            app.include_router(target)
    return app
