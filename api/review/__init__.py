"""The steward review queue, served by the FastAPI app under /review (see endpoints.install)."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    from api.review.endpoints import install as _install

    _install(app)
