"""The review queue in a real browser: Debian's chromium driven by Playwright against uvicorn.

Each test seeds its own uncertain pair through empi.patients.register and drives only the flow under
test through the UI. PIX answers come over a real MLLP socket (ITI-9).
"""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from empi import xref
from empi.models import AuditEvent, MatchExclusion, ReviewTask
from tests.review.conftest import SCREENSHOTS, Live, next_n, screenshot, sign_in
from tests.review.seed import Pair, demographics, family_name, register, two_candidate_task, uncertain_pair

pytestmark = pytest.mark.browser

OIDS = {"HOSPA": "2.25.1001", "HOSPB": "2.25.1002"}


def pix_query(live: Live, identifier: str, domain: str) -> str:
    """ITI-9 over MLLP: QBP^Q23 for one identifier; returns the RSP^K23 text (segments split by \\r)."""
    msg = "\r".join(
        [
            "MSH|^~\\&|RIS|HOSPB|EMPI|EMPI|20260101120000||QBP^Q23^QBP_Q21|Q-" + identifier + "|P|2.5",
            f"QPD|IHE PIX Query|T-{identifier}|{identifier}^^^{domain}&{OIDS[domain]}&ISO|",
            "RCP|I",
        ]
    )
    with socket.create_connection(("127.0.0.1", live.mllp_port), timeout=30) as sock:
        sock.sendall(b"\x0b" + msg.encode() + b"\x1c\x0d")
        buf = b""
        while b"\x1c\x0d" not in buf:
            chunk = sock.recv(65536)
            assert chunk, "the MLLP server closed the connection without a reply"
            buf += chunk
    return buf.split(b"\x1c\x0d")[0].lstrip(b"\x0b").decode()


def pixm_query(live: Live, key: Any) -> set[str]:
    """ITI-83 over real HTTP: the ``system|value`` of every targetIdentifier in the answer."""
    r = httpx.get(
        live.url("/fhir/Patient/$ihe-pix"),
        timeout=30,
        params={"sourceIdentifier": f"urn:oid:{OIDS[key.domain]}|{key.identifier}"},
        headers={"Authorization": f"Bearer {live.fhir_token}", "Accept": "application/fhir+json"},
    )
    assert r.status_code == 200, r.text
    return {
        f"{p['valueIdentifier']['system']}|{p['valueIdentifier']['value']}"
        for p in r.json().get("parameter", [])
        if p["name"] == "targetIdentifier"
    }


def cx(key: Any) -> str:
    return f"{key.identifier}^^^{key.domain}&{OIDS[key.domain]}&ISO"


def pid3(reply: str) -> str:
    segments = {s.split("|")[0]: s for s in reply.split("\r") if s}
    assert "MSA|AA" in reply, reply
    return segments["PID"].split("|")[3] if "PID" in segments else ""


def task_row(live: Live, task_id: int) -> ReviewTask:
    with live.rt.read() as session:
        task = session.get(ReviewTask, task_id)
        assert task is not None
        return task


def open_task(page: Any, pair: Pair) -> None:
    page.goto(f"/review/tasks/{pair.task_id}")
    page.get_by_role("heading", name=f"Task #{pair.task_id}").wait_for()


def decide(page: Any, button: str, reason: str) -> None:
    page.get_by_label("Reason").fill(reason)
    page.get_by_role("button", name=button).click()
    page.wait_for_load_state()


class TestSignIn:
    def test_signed_out_visitor_is_sent_to_sign_in_and_back(
        self, browser: Any, contexts: list[Any], live: Live
    ) -> None:
        pair = uncertain_pair(live.rt, next_n())
        ctx = browser.new_context(base_url=live.base_url)
        contexts.append(ctx)
        page = ctx.new_page()
        page.goto(f"/review/tasks/{pair.task_id}")
        assert "/review/signin" in page.url
        page.get_by_label("User name").fill("alice")
        page.get_by_label("Password").fill("wrong-password")
        page.get_by_role("button", name="Sign in").click()
        assert page.get_by_role("alert").inner_text() == "Wrong user name or password."
        page.get_by_label("User name").fill("alice")
        page.get_by_label("Password").fill("synthetic-pass-1")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"**/review/tasks/{pair.task_id}")
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/review/signin")
        page.goto("/review")
        assert "/review/signin" in page.url

    def test_queue_lists_open_tasks_with_counts_and_filters(
        self, browser: Any, contexts: list[Any], live: Live
    ) -> None:
        pair = uncertain_pair(live.rt, next_n())
        page = sign_in(browser, contexts, live)
        heading = page.get_by_role("heading", name="Review queue").inner_text()
        assert "open" in heading
        row = page.locator("tr.task-row", has_text=pair.second.identifier)
        assert "Uncertain score" in row.inner_text() and "67.5" in row.inner_text()
        page.get_by_label("Reason", exact=True).select_option("ambiguous")
        page.get_by_role("button", name="Apply filters").click()
        assert page.locator("tr.task-row", has_text=pair.second.identifier).count() == 0
        page.get_by_label("Reason", exact=True).select_option("uncertain")
        page.get_by_label("Domain").select_option("HOSPB")
        page.get_by_role("button", name="Apply filters").click()
        assert page.locator("tr.task-row", has_text=pair.second.identifier).count() == 1


class TestTaskPage:
    def test_breakdown_shows_every_field_level_and_points(
        self, browser: Any, contexts: list[Any], live: Live
    ) -> None:
        for _ in range(3):
            uncertain_pair(live.rt, next_n())
        pair = uncertain_pair(live.rt, next_n(), phones=True)
        page = sign_in(browser, contexts, live)
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        page.reload()
        screenshot(page, "queue-1280x800")
        open_task(page, pair)
        table = page.get_by_role("table", name="Field-by-field comparison with candidate 1")
        birth = table.get_by_role("row", name="Birth date")
        assert "f-partial" in (birth.get_attribute("class") or "")
        cells = birth.get_by_role("cell").all_inner_texts()
        assert cells[2:] == ["birth_date", "one-digit", "+8.6"]
        assert "f-differ" in (table.get_by_role("row", name="Phone").get_attribute("class") or "")
        assert "f-missing" in (table.get_by_role("row", name="Middle name").get_attribute("class") or "")
        assert "f-agree" in (table.get_by_role("row", name="Family name").get_attribute("class") or "")
        assert "67.2" in table.locator("tfoot").inner_text()
        assert "scorecard review-fixture v1" in page.locator(".meta").inner_text()
        assert "review band 63–70" in page.locator(".meta").inner_text()  # noqa: RUF001
        beside = page.get_by_role("table", name="Incoming record beside the records of candidate 1")
        theirs = beside.get_by_role("row", name=pair.first.identifier)
        differing = theirs.locator("td.c-diff").all_inner_texts()  # birth date and phone
        assert len(differing) == 2 and differing[1].endswith("6135550101")
        assert theirs.locator("td.c-same").count() == 3  # name, sex, address
        assert page.get_by_role("list", name="Where the records differ").inner_text().startswith("Birth date")
        screenshot(page, "task-1280x800")
        assert {"/review/static/review.css", "/review/static/review.js"} <= {
            u.removeprefix(live.base_url) for u in requested
        }
        assert all(u.startswith(live.base_url) for u in requested), "everything is served by the app (no CDN)"
        page.screenshot(path=str(SCREENSHOTS / "task-1280-full.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, (
            "no sideways scrolling on a phone"
        )
        screenshot(page, "task-390x844")
        page.screenshot(path=str(SCREENSHOTS / "task-390-full.png"), full_page=True)
        page.goto("/review")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(page, "queue-390x844")

    def test_keyboard_moves_through_the_queue(self, browser: Any, contexts: list[Any], live: Live) -> None:
        uncertain_pair(live.rt, next_n())
        uncertain_pair(live.rt, next_n())
        page = sign_in(browser, contexts, live)
        rows = page.locator("tr.task-row")
        second_id = rows.nth(1).get_attribute("data-href")
        page.keyboard.press("j")
        assert "selected" in (rows.nth(1).get_attribute("class") or "")
        page.keyboard.press("Enter")
        page.wait_for_url("**" + str(second_id))
        next_href = page.get_by_role("link", name="Next task »").get_attribute("href")
        page.keyboard.press("n")
        page.wait_for_url("**" + str(next_href))
        page.keyboard.press("?")
        help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
        assert help_dialog.is_visible() and "same person" in help_dialog.inner_text()
        page.keyboard.press("Escape")
        assert not help_dialog.is_visible()
        page.keyboard.press("q")
        page.wait_for_url("**/review")


class TestDecisions:
    def test_link_by_keyboard_shows_in_pix_answer(
        self, browser: Any, contexts: list[Any], live: Live
    ) -> None:
        pair = uncertain_pair(live.rt, next_n())
        assert pid3(pix_query(live, pair.second.identifier, "HOSPB")) == ""  # not yet cross-referenced
        assert pixm_query(live, pair.second) == set()
        page = sign_in(browser, contexts, live)
        open_task(page, pair)
        page.locator("body").press("l")
        assert page.get_by_label("Reason").evaluate("el => el === document.activeElement")
        page.keyboard.type("same person; birth year mistyped")
        page.keyboard.press("Control+Enter")
        page.get_by_text(f"Task {pair.task_id} resolved: linked to the candidate.").wait_for()
        assert cx(pair.first) in pid3(pix_query(live, pair.second.identifier, "HOSPB"))
        assert cx(pair.second) in pid3(pix_query(live, pair.first.identifier, "HOSPA"))
        assert pixm_query(live, pair.second) == {f"urn:oid:{OIDS['HOSPA']}|{pair.first.identifier}"}
        task = task_row(live, pair.task_id)
        assert (task.resolution, task.resolved_by) == ("link", "alice")

    def test_second_candidate_chosen_by_number_key(
        self, browser: Any, contexts: list[Any], live: Live
    ) -> None:
        pair, third_person = two_candidate_task(live.rt, next_n())
        page = sign_in(browser, contexts, live)
        open_task(page, pair)
        assert page.locator("section.candidate").count() == 2
        screenshot(page, "task-two-candidates-1280x800")
        page.locator("body").press("2")
        page.locator("body").press("l")
        page.keyboard.type("the NIST2010 chart matches")
        page.keyboard.press("Control+Enter")
        page.get_by_text(f"Task {pair.task_id} resolved").wait_for()
        with live.rt.read() as session:
            refs = xref.cross_references(session, pair.second, rt=live.rt)
        assert [r.identifier for r in refs.identifiers] == [f"C{pair.second.identifier[1:]}"]
        assert refs.person_id == third_person

    def test_different_person_is_remembered(self, browser: Any, contexts: list[Any], live: Live) -> None:
        n = next_n()
        pair = uncertain_pair(live.rt, n)
        page = sign_in(browser, contexts, live)
        open_task(page, pair)
        decide(page, "Different person", "twins at the same address")
        assert task_row(live, pair.task_id).resolution == "different"
        with live.rt.read() as session:
            assert session.scalars(
                select(MatchExclusion).where(MatchExclusion.reason == "twins at the same address")
            ).one()
        page.goto(f"/review/persons/{pair.second_person}")
        apart = page.get_by_role("table", name="Records kept apart from this person's records").inner_text()
        assert pair.first.identifier in apart and "twins at the same address" in apart
        again = register(live.rt, pair.second, demographics(n, year_shift=1, city=False))
        assert again.review_task_id is None
        assert pid3(pix_query(live, pair.second.identifier, "HOSPB")) == ""
        assert pixm_query(live, pair.second) == set()

    def test_merge_joins_the_two_persons(self, browser: Any, contexts: list[Any], live: Live) -> None:
        pair = uncertain_pair(live.rt, next_n())
        page = sign_in(browser, contexts, live)
        open_task(page, pair)
        decide(page, "Merge persons", "one patient registered twice")
        assert task_row(live, pair.task_id).resolution == "merge"
        assert pair.first.identifier in pid3(pix_query(live, pair.second.identifier, "HOSPB"))
        page.goto(f"/review/persons/{pair.second_person}")
        assert "Merged into" in page.get_by_role("status").or_(page.locator(".alert.info")).first.inner_text()

    def test_unlink_from_person_page_separates_the_record(
        self, browser: Any, contexts: list[Any], live: Live
    ) -> None:
        pair = uncertain_pair(live.rt, next_n())
        page = sign_in(browser, contexts, live)
        open_task(page, pair)
        decide(page, "Same person", "same person")
        page.goto(f"/review/persons/{pair.first_person}")
        records = page.get_by_role("table", name="Records linked to this person")
        assert records.get_by_role("row").count() == 3  # header + two records
        screenshot(page, "person-1280x800")
        page.get_by_label(f"Reason to unlink HOSPB {pair.second.identifier}").fill("wrong chart merged")
        page.get_by_role("button", name=f"Unlink HOSPB {pair.second.identifier}").click()
        page.get_by_text("Record unlinked").wait_for()
        history = page.get_by_role("table", name="Link history, newest first").inner_text()
        assert "unlink" in history and "wrong chart merged" in history and "alice" in history
        assert pid3(pix_query(live, pair.second.identifier, "HOSPB")) == ""
        assert pixm_query(live, pair.second) == set()


class TestSafety:
    def test_forged_csrf_token_is_rejected_and_changes_nothing(
        self, browser: Any, contexts: list[Any], live: Live
    ) -> None:
        pair = uncertain_pair(live.rt, next_n())
        page = sign_in(browser, contexts, live)
        open_task(page, pair)
        page.locator("input[name=csrf]").first.evaluate("el => { el.value = 'forged-token'; }")
        page.evaluate(
            "() => document.querySelectorAll('form').forEach(f => f.querySelectorAll('input[name=csrf]')"
            ".forEach(i => i.value = 'forged-token'))"
        )
        decide(page, "Same person", "forged")
        assert page.get_by_role("heading", name="Form expired").is_visible()
        assert task_row(live, pair.task_id).status == "open"

    def test_second_steward_sees_already_resolved(
        self, browser: Any, contexts: list[Any], live: Live
    ) -> None:
        pair = uncertain_pair(live.rt, next_n())
        alice = sign_in(browser, contexts, live, "alice")
        bob = sign_in(browser, contexts, live, "bob")
        open_task(alice, pair)
        open_task(bob, pair)
        decide(alice, "Same person", "same person")
        decide(bob, "Different person", "not the same")
        assert (
            "Already resolved: this task was already resolved by alice"
            in bob.get_by_role("alert").inner_text()
        )
        task = task_row(live, pair.task_id)
        assert (task.resolution, task.resolved_by) == ("link", "alice")
        with live.rt.read() as session:
            events = session.scalars(
                select(AuditEvent).where(AuditEvent.event_type == "review-decision")
            ).all()
            assert [e.actor for e in events if (e.detail or {}).get("task_id") == pair.task_id] == ["alice"]
            assert (
                session.scalars(select(MatchExclusion).where(MatchExclusion.reason == "not the same")).all()
                == []
            )

    def test_viewer_can_look_but_not_decide(self, browser: Any, contexts: list[Any], live: Live) -> None:
        pair = uncertain_pair(live.rt, next_n())
        page = sign_in(browser, contexts, live, "vic")
        open_task(page, pair)
        assert page.get_by_text("only stewards decide").is_visible()
        assert page.get_by_role("button", name="Same person").count() == 0
        csrf = page.locator("input[name=csrf]").first.input_value()
        response = page.request.post(
            f"/review/tasks/{pair.task_id}/decide",
            form={"csrf": csrf, "decision": "link", "reason": "x", "person_id": str(pair.first_person)},
        )
        assert response.status == 403
        assert task_row(live, pair.task_id).status == "open"

    def test_search_by_identifier_and_name_finds_the_person(
        self, browser: Any, contexts: list[Any], live: Live
    ) -> None:
        n = next_n()
        pair = uncertain_pair(live.rt, n)
        page = sign_in(browser, contexts, live)
        page.keyboard.press("/")
        page.keyboard.type(pair.first.identifier)
        page.keyboard.press("Enter")
        results = page.get_by_role("table", name="Search results")
        assert pair.first.identifier in results.inner_text()
        page.goto("/review/search?q=" + family_name(n))
        assert page.get_by_role("table", name="Search results").get_by_role("row").count() == 3
