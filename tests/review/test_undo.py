"""Undo on the person page: POST /review/persons/{id}/undo over HTTP (TestClient on SQLite) and in
chromium against uvicorn, restoring the cross-references a merge or link changed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from empi import patients, stewardship, users, xref
from empi.commands import MergeRecords, RecordKey
from empi.models import AuditEvent, Person
from empi.runtime import Runtime
from tests.review.conftest import Live, next_n, screenshot, sign_in
from tests.review.seed import Pair, demographics, register, uncertain_pair
from tests.review.test_queue import PASSWORD
from tests.review.test_queue import sign_in as http_sign_in


def refs(rt: Runtime, key: RecordKey) -> set[str]:
    with rt.read() as session:
        return {f"{r.identifier}@{r.domain}" for r in xref.cross_references(session, key, rt=rt).identifiers}


def steward_merge(rt: Runtime, pair: Pair) -> None:
    with rt.write() as session:
        stewardship.merge_persons(
            session, pair.task_id, person_id=pair.first_person, actor="alice", reason="same", rt=rt
        )


def a40(rt: Runtime, n: int) -> tuple[Pair, RecordKey]:
    """A HOSPA duplicate of the pair's newcomer (it links to the newcomer's person), then an A40 that
    merges the duplicate into the pair's HOSPA record: the newcomer's person moves there too."""
    pair = uncertain_pair(rt, n)
    dup = RecordKey(f"D{n:05d}", "HOSPA")
    register(rt, dup, demographics(n, year_shift=1, city=False))
    assert refs(rt, pair.second) == {f"{dup.identifier}@HOSPA"}
    with rt.write() as session:
        patients.merge(session, MergeRecords(surviving=pair.first, subsumed=dup, source="HIS|HOSPA"), rt=rt)
    assert refs(rt, pair.first) == {f"{pair.second.identifier}@HOSPB"}
    return pair, dup


def undo_form(page: str, kind: str) -> dict[str, str]:
    """The hidden fields of the page's undo form for ``kind``."""
    for form in re.findall(r'<form method="post" action="[^"]+/undo".*?</form>', page, re.DOTALL):
        fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))
        if fields.get("kind") == kind:
            return fields
    raise AssertionError(f"no undo form for {kind}")


@pytest.fixture
def client(rt: Runtime) -> TestClient:
    with rt.write() as session:
        users.add_user(session, "alice", PASSWORD, role="steward")
        users.add_user(session, "vic", PASSWORD, role="viewer")
    return TestClient(create_app(rt), base_url="http://testserver")


@pytest.mark.sqlite
class TestUndoRoute:
    @pytest.fixture
    def backend(self) -> str:
        return "sqlite"

    def test_person_merge_is_undone_with_an_audited_reason(self, client: TestClient, rt: Runtime) -> None:
        pair = uncertain_pair(rt, 1)
        steward_merge(rt, pair)
        http_sign_in(client)
        page = client.get(f"/review/persons/{pair.first_person}").text
        assert 'aria-label="Changes that can be undone, newest first"' in page
        form = undo_form(page, "person-merge")
        assert form["target"] == str(pair.second_person)
        r = client.post(
            f"/review/persons/{pair.first_person}/undo",
            data={**form, "reason": "two patients"},
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert r.headers["location"] == (
            f"/review/persons/{pair.first_person}?undone=person-merge&to={pair.second_person}"
        )
        shown = client.get(r.headers["location"]).text
        assert "Person merge undone: the merged person is active again" in shown
        assert f'href="/review/persons/{pair.second_person}"' in shown
        assert refs(rt, pair.first) == set() and refs(rt, pair.second) == set()
        with rt.read() as session:
            entry = session.scalars(select(AuditEvent).where(AuditEvent.event_type == "unmerge")).one()
            person = session.get(Person, pair.second_person)
            assert person is not None and person.is_active
        assert (entry.actor, entry.actor_type) == ("alice", "user")
        assert entry.detail is not None and entry.detail["reason"] == "two patients"
        assert entry.detail["undo"] == "person-merge"
        # the same form again is stale: a clear 409 and nothing more happens
        again = client.post(f"/review/persons/{pair.first_person}/undo", data={**form, "reason": "again"})
        assert again.status_code == 409 and "can no longer be undone" in again.text
        with rt.read() as session:
            assert (
                len(session.scalars(select(AuditEvent).where(AuditEvent.event_type == "unmerge")).all()) == 1
            )

    def test_steward_link_is_undone(self, client: TestClient, rt: Runtime) -> None:
        pair = uncertain_pair(rt, 2)
        with rt.write() as session:
            stewardship.link_to_candidate(
                session, pair.task_id, person_id=pair.first_person, actor="alice", reason="same", rt=rt
            )
        assert refs(rt, pair.first) == {f"{pair.second.identifier}@HOSPB"}
        http_sign_in(client)
        form = undo_form(client.get(f"/review/persons/{pair.first_person}").text, "link")
        r = client.post(f"/review/persons/{pair.first_person}/undo", data={**form, "reason": "wrong chart"})
        assert r.status_code == 200 and "Link undone: the record is back on" in r.text
        assert refs(rt, pair.first) == set() and refs(rt, pair.second) == set()

    def test_a40_record_merge_is_undone(self, client: TestClient, rt: Runtime) -> None:
        pair, dup = a40(rt, 3)
        http_sign_in(client)
        form = undo_form(client.get(f"/review/persons/{pair.first_person}").text, "record-merge")
        r = client.post(f"/review/persons/{pair.first_person}/undo", data={**form, "reason": "wrong merge"})
        assert r.status_code == 200 and "Record merge undone" in r.text
        assert refs(rt, pair.first) == set()
        assert refs(rt, pair.second) == {f"{dup.identifier}@HOSPA"}

    def test_missing_reason_is_refused_and_changes_nothing(self, client: TestClient, rt: Runtime) -> None:
        pair = uncertain_pair(rt, 4)
        steward_merge(rt, pair)
        http_sign_in(client)
        form = undo_form(client.get(f"/review/persons/{pair.first_person}").text, "person-merge")
        r = client.post(f"/review/persons/{pair.first_person}/undo", data={**form, "reason": "  "})
        assert r.status_code == 422 and "a reason is required" in r.text
        assert 'role="alert"' in r.text and "Undo</button>" in r.text  # the page, with its forms
        assert refs(rt, pair.first) == {f"{pair.second.identifier}@HOSPB"}

    def test_viewer_sees_the_undo_list_but_gets_403(self, client: TestClient, rt: Runtime) -> None:
        pair = uncertain_pair(rt, 5)
        steward_merge(rt, pair)
        csrf = http_sign_in(client, "vic")
        page = client.get(f"/review/persons/{pair.first_person}").text
        assert "Only stewards can undo" in page and "/undo" not in page
        r = client.post(
            f"/review/persons/{pair.first_person}/undo",
            data={
                "csrf": csrf,
                "kind": "person-merge",
                "target": pair.second_person,
                "event_id": 1,
                "reason": "x",
            },
        )
        assert r.status_code == 403 and "Viewers cannot decide" in r.text
        assert refs(rt, pair.first) == {f"{pair.second.identifier}@HOSPB"}

    def test_forged_csrf_token_is_rejected(self, client: TestClient, rt: Runtime) -> None:
        pair = uncertain_pair(rt, 6)
        steward_merge(rt, pair)
        http_sign_in(client)
        form = undo_form(client.get(f"/review/persons/{pair.first_person}").text, "person-merge")
        r = client.post(
            f"/review/persons/{pair.first_person}/undo", data={**form, "csrf": "forged", "reason": "x"}
        )
        assert r.status_code == 403 and "Form expired" in r.text
        assert refs(rt, pair.first) == {f"{pair.second.identifier}@HOSPB"}

    def test_unknown_person_or_target_gets_a_4xx_page(self, client: TestClient, rt: Runtime) -> None:
        pair = uncertain_pair(rt, 7)
        steward_merge(rt, pair)
        http_sign_in(client)
        form = undo_form(client.get(f"/review/persons/{pair.first_person}").text, "person-merge")
        missing = client.post("/review/persons/999999/undo", data={**form, "reason": "x"})
        assert missing.status_code == 404 and "there is no such person" in missing.text
        for bad in ({"target": "999999"}, {"event_id": "999999"}, {"kind": "link"}):
            r = client.post(f"/review/persons/{pair.first_person}/undo", data={**form, **bad, "reason": "x"})
            assert r.status_code == 409 and "can no longer be undone" in r.text, bad
        r = client.post(f"/review/persons/{pair.first_person}/undo", data={**form, "kind": "", "reason": "x"})
        assert r.status_code == 422 and "choose a change to undo" in r.text
        assert refs(rt, pair.first) == {f"{pair.second.identifier}@HOSPB"}


@pytest.mark.browser
class TestUndoInBrowser:
    def test_a40_merge_is_undone_from_the_person_page(
        self, browser: Any, contexts: list[Any], live: Live
    ) -> None:
        pair, dup = a40(live.rt, next_n())
        page = sign_in(browser, contexts, live)
        page.goto(f"/review/persons/{pair.first_person}")
        undos = page.get_by_role("list", name="Changes that can be undone, newest first")
        assert undos.get_by_role("listitem").count() == 2  # the record merge and the person move
        page.get_by_role("heading", name="Undo").scroll_into_view_if_needed()
        page.evaluate(
            "() => window.scrollBy(0, document.getElementById('undo-h').getBoundingClientRect().top - 60)"
        )
        screenshot(page, "person-undo-1280x800")
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, "no sideways scrolling"
        page.set_viewport_size({"width": 1280, "height": 800})
        what = f"HOSPA {dup.identifier}"
        page.get_by_label(f"Reason to undo the record merge of {what}").fill("A40 sent for the wrong patient")
        page.get_by_role("button", name=f"Undo the record merge of {what}").click()
        page.get_by_text("Record merge undone").wait_for()
        assert refs(live.rt, pair.first) == set()
        assert refs(live.rt, pair.second) == {f"{dup.identifier}@HOSPA"}
        assert refs(live.rt, dup) == {f"{pair.second.identifier}@HOSPB"}
        page.get_by_role("link", name=re.compile("^person ")).click()
        history = page.get_by_role("table", name="Link history, newest first").inner_text()
        assert "unmerge" in history and "A40 sent for the wrong patient" in history and "alice" in history

    def test_empty_reason_is_stopped_by_the_browser(
        self, browser: Any, contexts: list[Any], live: Live
    ) -> None:
        pair = uncertain_pair(live.rt, next_n())
        steward_merge(live.rt, pair)
        page = sign_in(browser, contexts, live)
        page.goto(f"/review/persons/{pair.first_person}")
        button = page.get_by_role("button", name=re.compile("^Undo the person merge of person "))
        button.click()
        assert page.url.endswith(f"/review/persons/{pair.first_person}")  # required field: not submitted
        assert refs(live.rt, pair.first) == {f"{pair.second.identifier}@HOSPB"}
