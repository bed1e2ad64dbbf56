"""``empi users add``: the password comes from standard input (or a hidden prompt), never argv."""

from __future__ import annotations

import io

import pytest

from api.cli import main
from empi import users
from empi.runtime import Runtime


def _add(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    stdin: str,
    *args: str,
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["users", "add", *args, "--database-url", database_url])
    out, err = capsys.readouterr()
    return code, out, err


def test_user_added_from_stdin_can_sign_in(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database_url: str, rt: Runtime
) -> None:
    code, out, _ = _add(monkeypatch, capsys, database_url, "synthetic-pass-1\n", "alice", "--role", "steward")
    assert code == 0 and "alice" in out and "synthetic-pass-1" not in out
    with rt.read() as session:
        user = users.authenticate(session, "alice", "synthetic-pass-1")
        assert user is not None and user.role == "steward"


def test_prompt_asks_twice_when_stdin_is_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Tty(""))
    answers = iter(["synthetic-pass-1", "different-pass-2"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["users", "add", "bob", "--role", "viewer", "--database-url", database_url]) == 2
    assert "do not match" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("stdin", "args", "message"),
    [
        ("", ("carol", "--role", "steward"), "no password given"),
        ("short\n", ("carol", "--role", "steward"), "at least 8 characters"),
        ("synthetic-pass-1\n", ("bad name", "--role", "viewer"), "user names are"),
    ],
)
def test_bad_input_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    stdin: str,
    args: tuple[str, ...],
    message: str,
) -> None:
    code, _, err = _add(monkeypatch, capsys, database_url, stdin, *args)
    assert code == 2 and message in err and "Traceback" not in err
