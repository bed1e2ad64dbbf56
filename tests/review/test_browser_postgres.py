"""The review queue in chromium over PostgreSQL: two stewards submit the same task at the same moment
(the row lock decides, one sees "already resolved"), and a link shows at once in ITI-9 and ITI-83."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from empi.models import AuditEvent
from tests.review.conftest import Live, next_n, sign_in
from tests.review.seed import uncertain_pair
from tests.review.test_browser import OIDS, cx, decide, open_task, pid3, pix_query, pixm_query, task_row

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


def test_simultaneous_decisions_apply_once(browser: Any, contexts: list[Any], live_pg: Live) -> None:
    pair = uncertain_pair(live_pg.rt, next_n())
    alice = sign_in(browser, contexts, live_pg, "alice")
    bob = sign_in(browser, contexts, live_pg, "bob")
    choices = ((alice, "link", "same person"), (bob, "different", "not the same"))
    for page, _, reason in choices:
        open_task(page, pair)
        page.get_by_label("Reason").fill(reason)
    for page, decision, _ in choices:  # submit without waiting, so both requests are in flight together
        page.evaluate(
            "d => { const f = document.getElementById('decide-form');"
            " setTimeout(() => f.requestSubmit(f.querySelector(`button[value=${d}]`)), 0); }",
            decision,
        )
    for page in (alice, bob):
        page.wait_for_url(lambda url: "done=" in url or "/decide" in url)
        page.wait_for_load_state()
    texts = [p.locator("main").inner_text() for p in (alice, bob)]
    resolved = [t for t in texts if f"Task {pair.task_id} resolved" in t]
    refused = [t for t in texts if "Already resolved: this task was already resolved by" in t]
    assert len(resolved) == 1 and len(refused) == 1, texts
    with live_pg.rt.read() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.event_type == "review-decision")).all()
        assert len([e for e in events if (e.detail or {}).get("task_id") == pair.task_id]) == 1
    assert task_row(live_pg, pair.task_id).resolved_by in ("alice", "bob")


def test_link_shows_in_pix_answers(browser: Any, contexts: list[Any], live_pg: Live) -> None:
    pair = uncertain_pair(live_pg.rt, next_n())
    page = sign_in(browser, contexts, live_pg)
    open_task(page, pair)
    decide(page, "Same person", "same person; birth year mistyped")
    assert cx(pair.first) in pid3(pix_query(live_pg, pair.second.identifier, "HOSPB"))
    assert pixm_query(live_pg, pair.second) == {f"urn:oid:{OIDS['HOSPA']}|{pair.first.identifier}"}
