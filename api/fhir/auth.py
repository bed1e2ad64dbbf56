"""Edge-device authentication for the FHIR API: registered clients with bearer tokens and scopes.

Scopes are the IHE IUA transaction scopes, one per transaction a client may perform:

    ITI-83   PIXm query ($ihe-pix)          ITI-78   PDQm search and read
    ITI-104  PIXm feed (PUT/DELETE Patient) ITI-119  PDQm $match

A token is shown once when the client is created (``empi clients add``). Only its SHA-256 is stored
(``api_client.token_hash``): tokens are 256 random bits, so a fast hash is enough and keeps the lookup
an indexed equality. No token gives 401; a token without the transaction's scope gives 403.
Valid tokens are remembered per app for ``TOKEN_CACHE_SECONDS``, so a revocation takes effect within
that time (unknown tokens are never cached).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.fhir.errors import FhirError
from empi.errors import Conflict, InvalidInput, NotFound
from empi.models import ApiClient

SCOPES: dict[str, str] = {
    "ITI-83": "PIXm cross-reference query (Patient/$ihe-pix)",
    "ITI-104": "PIXm patient identity feed (conditional PUT and DELETE on Patient)",
    "ITI-78": "PDQm patient search and read",
    "ITI-119": "PDQm patient match (Patient/$match)",
    "ITI-81": "audit trail search (AuditEvent)",
}
TOKEN_PREFIX = "empi_"
TOKEN_CACHE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated client of one request."""

    name: str
    scopes: frozenset[str]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_scopes(values: Iterable[str]) -> list[str]:
    """Scopes from repeated and/or space- or comma-separated values; unknown ones are refused."""
    scopes: list[str] = []
    for value in values:
        for scope in value.replace(",", " ").split():
            canonical = scope.upper()
            if canonical not in SCOPES:
                raise InvalidInput(f"unknown scope {scope!r}; known scopes: {', '.join(SCOPES)}", field="scope")
            if canonical not in scopes:
                scopes.append(canonical)
    if not scopes:
        raise InvalidInput("a client needs at least one scope", field="scope")
    return scopes


def create_client(session: Session, name: str, scopes: Sequence[str]) -> str:
    """Register a client and return its bearer token (the only time it is available)."""
    name = name.strip()
    if not name or len(name) > 64:
        raise InvalidInput("the client name must be 1 to 64 characters", field="name")
    if session.scalar(select(ApiClient.id).where(ApiClient.name == name)) is not None:
        raise Conflict(f"a client named {name!r} already exists", field="name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiClient(name=name, token_hash=hash_token(token), scopes=" ".join(parse_scopes(scopes)),
                          is_active=True))
    session.flush()
    return token


def revoke_client(session: Session, name: str) -> None:
    client = session.scalars(select(ApiClient).where(ApiClient.name == name)).first()
    if client is None:
        raise NotFound(f"no client named {name!r}", field="name")
    client.is_active = False


def list_clients(session: Session) -> list[ApiClient]:
    return list(session.scalars(select(ApiClient).order_by(ApiClient.name)))


def authenticate(session: Session, token: str) -> Caller | None:
    digest = hash_token(token)
    client = session.scalars(select(ApiClient).where(ApiClient.token_hash == digest)).first()
    if client is None or not client.is_active or not hmac.compare_digest(client.token_hash, digest):
        return None
    return Caller(name=client.name, scopes=frozenset(client.scopes.split()))


def _challenge(error: str | None = None, scope: str | None = None) -> dict[str, str]:
    value = 'Bearer realm="empi-fhir"'
    if error:
        value += f', error="{error}"'
    if scope:
        value += f', scope="{scope}"'
    return {"WWW-Authenticate": value}


class TokenCache:
    """Recently verified tokens (by hash) of one app: saves a database round trip per request."""

    def __init__(self, ttl: float = TOKEN_CACHE_SECONDS) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[Caller, float]] = {}

    def get(self, digest: str) -> Caller | None:
        entry = self._entries.get(digest)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, digest: str, who: Caller) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[digest] = (who, time.monotonic() + self.ttl)

    def clear(self) -> None:
        self._entries.clear()


def _lookup(request: Request, token: str) -> Caller | None:
    with request.app.state.rt.read() as session:
        return authenticate(session, token)


async def caller(request: Request, scope: str) -> Caller:
    """The request's client, which must hold ``scope`` (401 without a valid token, 403 without the scope)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise FhirError(401, "login", "a bearer token is required", headers=_challenge())
    cache: TokenCache | None = getattr(request.app.state, "fhir_tokens", None)
    digest = hash_token(token)
    found = cache.get(digest) if cache is not None else None
    if found is None:
        found = await run_in_threadpool(_lookup, request, token)
        if found is not None and cache is not None:
            cache.put(digest, found)
    if found is None:
        raise FhirError(401, "login", "the bearer token is not valid", headers=_challenge("invalid_token"))
    if scope not in found.scopes:
        raise FhirError(403, "forbidden", f"the client is not allowed to perform {scope}",
                        headers=_challenge("insufficient_scope", scope))
    return found


def requires(scope: str) -> Callable[[Request], Awaitable[Caller]]:
    """A FastAPI dependency: ``who: Caller = Depends(requires("ITI-83"))``."""

    async def dependency(request: Request) -> Caller:
        return await caller(request, scope)

    dependency.__name__ = f"requires_{scope.replace('-', '_')}"
    return dependency


# Route parameter types: ``def endpoint(who: PixQuery)`` authenticates and checks the scope.
PixQuery = Annotated[Caller, Depends(requires("ITI-83"))]
PixFeed = Annotated[Caller, Depends(requires("ITI-104"))]
PdqQuery = Annotated[Caller, Depends(requires("ITI-78"))]
PdqMatch = Annotated[Caller, Depends(requires("ITI-119"))]
