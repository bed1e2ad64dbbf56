"""Accounts and sessions: hashed passwords, hashed session tokens, per-session CSRF tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from empi import users
from empi.errors import Conflict, InvalidInput
from empi.models import AppUser, UserSession
from empi.runtime import Runtime


class TestPasswords:
    def test_hash_is_salted_and_verifies_when_password_matches(self) -> None:
        one, two = users.hash_password("correct horse"), users.hash_password("correct horse")
        assert one != two and "correct" not in one
        assert users.verify_password("correct horse", one)
        assert not users.verify_password("wrong horse", one)

    def test_garbage_hash_never_verifies(self) -> None:
        assert not users.verify_password("x", "not-a-hash")
        assert not users.verify_password("x", "md5$1$1$1$00$00")


class TestSessions:
    def test_sign_in_round_trip_when_password_is_right(self, rt: Runtime) -> None:
        with rt.write() as session:
            users.add_user(session, "alice", "s3cret-pass", role="steward")
        with rt.write() as session:
            user = users.authenticate(session, "alice", "s3cret-pass")
            assert user is not None
            token, who = users.start_session(session, user)
        with rt.read() as session:
            stored = session.scalars(select(UserSession)).one()
            assert stored.token_hash != token and token not in stored.token_hash
            found = users.signed_in(session, token)
        assert found is not None and found.username == "alice" and found.can_decide
        assert users.csrf_matches(found, who.csrf_token)
        assert not users.csrf_matches(found, "forged") and not users.csrf_matches(found, None)
        with rt.write() as session:
            users.end_session(session, token)
        with rt.read() as session:
            assert users.signed_in(session, token) is None

    def test_wrong_password_or_unknown_user_is_refused(self, rt: Runtime) -> None:
        with rt.write() as session:
            users.add_user(session, "bob", "s3cret-pass", role="viewer")
        with rt.read() as session:
            assert users.authenticate(session, "bob", "nope-nope") is None
            assert users.authenticate(session, "nobody", "s3cret-pass") is None

    def test_expired_session_is_not_signed_in(self, rt: Runtime) -> None:
        with rt.write() as session:
            user = users.add_user(session, "carol", "s3cret-pass", role="viewer")
            token, _ = users.start_session(session, user, ttl=timedelta(seconds=-1))
        with rt.read() as session:
            assert users.signed_in(session, token) is None

    def test_viewer_cannot_decide(self, rt: Runtime) -> None:
        with rt.write() as session:
            user = users.add_user(session, "vic", "s3cret-pass", role="viewer")
            _, who = users.start_session(session, user)
        assert not who.can_decide

    def test_bad_accounts_are_refused_when_added(self, rt: Runtime) -> None:
        with rt.write() as session:
            users.add_user(session, "dave", "s3cret-pass", role="steward")
        for name, password, role in (
            ("dave", "s3cret-pass", "steward"),
            ("eve", "short", "steward"),
            ("eve", "s3cret-pass", "admin"),
            ("has space", "s3cret-pass", "viewer"),
        ):
            with pytest.raises((InvalidInput, Conflict)), rt.write() as session:
                users.add_user(session, name, password, role=role)
        with rt.read() as session:
            assert session.scalars(select(AppUser.username)).all() == ["dave"]
