"""``empi clients add/list/revoke``: the token is printed once, works at the FHIR API, is never listed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.cli import main
from empi.runtime import Runtime
from tests.fhir.support import auth


def _run(capsys: pytest.CaptureFixture[str], database_url: str, *args: str) -> tuple[int, str, str]:
    code = main(["clients", *args[:1], "--database-url", database_url, *args[1:]])
    out, err = capsys.readouterr()
    return code, out, err


def test_add_prints_a_token_that_authenticates(capsys: pytest.CaptureFixture[str], database_url: str,
                                               rt: Runtime) -> None:
    code, out, _ = _run(capsys, database_url, "add", "ward-tablet", "--scope", "ITI-83", "--scope", "iti-78,ITI-119")
    assert code == 0
    token = out.strip().splitlines()[-1]
    assert token.startswith("empi_")
    with TestClient(create_app(rt)) as client:
        assert client.get("/fhir/Patient?family=X", headers=auth(token)).status_code == 200
        r = client.put("/fhir/Patient?identifier=urn:oid:2.16.840.1.113883.3.72.5.9.1|T", headers=auth(token),
                       content=b'{"resourceType": "Patient"}')
        assert r.status_code == 403

    code, out, _ = _run(capsys, database_url, "list")
    assert code == 0
    assert "ward-tablet" in out and "ITI-83 ITI-78 ITI-119" in out and token not in out

    assert _run(capsys, database_url, "revoke", "ward-tablet")[0] == 0
    assert "revoked" in _run(capsys, database_url, "list")[1]


@pytest.mark.parametrize(("args", "message"), [
    (("add", "x", "--scope", "ITI-999"), "unknown scope"),
    (("add", "", "--scope", "ITI-83"), "1 to 64"),
    (("revoke", "nobody"), "no client named"),
])
def test_clear_errors_when_input_is_bad(capsys: pytest.CaptureFixture[str], database_url: str, rt: Runtime,
                                        args: tuple[str, ...], message: str) -> None:
    code, _, err = _run(capsys, database_url, *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_duplicate_name_is_refused(capsys: pytest.CaptureFixture[str], database_url: str, rt: Runtime) -> None:
    assert _run(capsys, database_url, "add", "dup", "--scope", "ITI-83")[0] == 0
    code, _, err = _run(capsys, database_url, "add", "dup", "--scope", "ITI-83")
    assert code == 2 and "already exists" in err
