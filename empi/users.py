"""Steward and viewer accounts: salted password hashes, sign-in sessions and their CSRF tokens.

Passwords are hashed with scrypt and a per-user salt. A session is a random bearer token kept by the
browser in a cookie; only its SHA-256 is stored (``user_session.token_hash``), so a copy of the
database cannot be replayed as a session. Each session carries its own CSRF token for form posts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from empi.errors import Conflict, InvalidInput
from empi.models import AppUser, UserSession, utcnow

ROLES = ("steward", "viewer")
SESSION_TTL = timedelta(hours=8)
MIN_PASSWORD = 8
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live session: who, what they may do, and the CSRF token their forms must echo."""

    user_id: int
    username: str
    role: str
    csrf_token: str

    @property
    def can_decide(self) -> bool:
        return self.role == "steward"


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (hex), so cost parameters can be raised later."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
        )
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(session: Session, username: str, password: str, *, role: str) -> AppUser:
    username = username.strip()
    if not username or len(username) > 64 or not set(username) <= _USERNAME_CHARS:
        raise InvalidInput("user names are 1-64 letters, digits or . _ - @", field="username")
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"the password must have at least {MIN_PASSWORD} characters", field="password")
    if session.scalar(select(AppUser.id).where(AppUser.username == username)) is not None:
        raise Conflict("a user with that name already exists", field="username")
    user = AppUser(username=username, password_hash=hash_password(password), role=role, is_active=True)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> AppUser | None:
    """The active user with that name and password, else None (no hint which part was wrong)."""
    user = session.scalar(select(AppUser).where(AppUser.username == username.strip()))
    if user is None:
        verify_password(password, hash_password("not-a-user"))  # spend the same time either way
        return None
    if not verify_password(password, user.password_hash) or not user.is_active:
        return None
    return user


def start_session(session: Session, user: AppUser, *, ttl: timedelta = SESSION_TTL) -> tuple[str, SignedIn]:
    """Open a session; returns the raw token (for the cookie, never stored) and the signed-in view."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utcnow()
    session.execute(delete(UserSession).where(UserSession.user_id == user.id, UserSession.expires_at < now))
    session.add(
        UserSession(
            token_hash=_token_hash(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    session.flush()
    return token, SignedIn(user.id, user.username, user.role, csrf)


def signed_in(session: Session, token: str | None) -> SignedIn | None:
    """The session behind a cookie token, if it exists, has not expired and its user is active."""
    if not token:
        return None
    row = session.execute(
        select(UserSession, AppUser)
        .join(AppUser, AppUser.id == UserSession.user_id)
        .where(UserSession.token_hash == _token_hash(token))
    ).first()
    if row is None:
        return None
    live, user = row
    expires = live.expires_at if live.expires_at.tzinfo else live.expires_at.replace(tzinfo=utcnow().tzinfo)
    if expires <= utcnow() or not user.is_active:
        return None
    return SignedIn(user.id, user.username, user.role, live.csrf_token)


def end_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(UserSession).where(UserSession.token_hash == _token_hash(token)))


def csrf_matches(who: SignedIn, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(who.csrf_token, submitted or "")
