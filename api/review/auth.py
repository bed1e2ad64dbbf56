"""Who is signed in: the session cookie, the sign-in redirect and the CSRF check for every form."""

from __future__ import annotations

import secrets
from urllib.parse import quote

from fastapi import Request
from starlette.responses import Response

from empi import users
from empi.runtime import Runtime

SESSION_COOKIE = "empi_session"
SIGNIN_COOKIE = "empi_signin"  # double-submit token for the sign-in form (no session yet)


class SignInRequired(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class CsrfRejected(Exception):
    pass


class NotAllowed(Exception):
    """A viewer tried to decide."""


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


def current_user(request: Request) -> users.SignedIn:
    """The signed-in user, or a redirect to the sign-in page (raised, handled in endpoints.install)."""
    token = request.cookies.get(SESSION_COOKIE)
    with runtime(request).read() as session:
        who = users.signed_in(session, token)
    if who is None:
        path = request.url.path if request.method == "GET" else "/review"
        if request.method == "GET" and request.url.query:
            path += "?" + request.url.query
        raise SignInRequired(path)
    return who


def check_csrf(who: users.SignedIn, submitted: str | None) -> None:
    if not users.csrf_matches(who, submitted):
        raise CsrfRejected


def require_steward(who: users.SignedIn) -> None:
    if not who.can_decide:
        raise NotAllowed


def safe_next(value: str | None) -> str:
    """Only local review pages: never an open redirect."""
    if value and value.startswith("/review") and "//" not in value and "\\" not in value:
        return value
    return "/review"


def signin_url(next_path: str) -> str:
    return "/review/signin?next=" + quote(next_path, safe="/")


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int) -> None:
    # Secure whenever the app is reached over HTTPS (directly or behind a TLS proxy that says so)
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, secure=secure, samesite="lax", path="/review"
    )


def new_signin_token() -> str:
    return secrets.token_urlsafe(24)
