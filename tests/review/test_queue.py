"""Queue listing (keyset paging, filters, counts) and the HTTP layer without a browser."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from api.app import create_app
from empi import review, users
from empi.models import AuditEvent, ReviewTask
from empi.runtime import Runtime
from tests.review.seed import health_card_conflict, two_candidate_task, uncertain_pair

PASSWORD = "synthetic-pass-1"


class TestListOpenTasks:
    def test_pages_walk_every_open_task_once_oldest_first(self, rt: Runtime) -> None:
        ids = [uncertain_pair(rt, n).task_id for n in range(7)]
        seen: list[int] = []
        after = None
        with rt.read() as session:
            while True:
                page = review.list_open_tasks(session, after=after, limit=3)
                if not page:
                    break
                seen += [t.id for t in page]
                after = (page[-1].created_at, page[-1].id)
        assert seen == ids

    def test_filters_and_counts_when_tasks_differ(self, rt: Runtime) -> None:
        pairs = [uncertain_pair(rt, n) for n in range(3)]
        old = datetime.now(UTC) - timedelta(days=10)
        with rt.write() as session:
            session.execute(
                update(ReviewTask)
                .where(ReviewTask.id == pairs[0].task_id)
                .values(created_at=old, reason="ambiguous")
            )
        with rt.read() as session:
            assert review.count_open_tasks(session) == {"ambiguous": 1, "uncertain": 2}
            week = datetime.now(UTC) - timedelta(days=7)
            assert [t.id for t in review.list_open_tasks(session, older_than=week)] == [pairs[0].task_id]
            assert [t.id for t in review.list_open_tasks(session, reason="uncertain")] == [
                p.task_id for p in pairs[1:]
            ]
            assert review.list_open_tasks(session, domain="HOSPA") == []
            assert review.open_task_domains(session) == ["HOSPB"]
            nxt = review.next_open_task(session, after=review.get_task(session, pairs[1].task_id))
            assert nxt is not None and nxt.id == pairs[2].task_id


@pytest.fixture
def client(rt: Runtime) -> TestClient:
    with rt.write() as session:
        users.add_user(session, "alice", PASSWORD, role="steward")
        users.add_user(session, "vic", PASSWORD, role="viewer")
    return TestClient(create_app(rt), base_url="http://testserver")


def sign_in(client: TestClient, name: str = "alice") -> str:
    form = client.get("/review/signin").text
    token = re.search(r'name="token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    r = client.post(
        "/review/signin",
        data={"username": name, "password": PASSWORD, "token": token, "next": "/review"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/review"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/review" in cookie
    page = client.get("/review").text
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


@pytest.mark.sqlite
class TestHttp:
    @pytest.fixture
    def backend(self) -> str:
        return "sqlite"

    def test_sign_in_without_form_token_is_rejected(self, client: TestClient) -> None:
        r = client.post("/review/signin", data={"username": "alice", "password": PASSWORD, "token": "x"})
        assert r.status_code == 403 and "Form expired" in r.text

    def test_next_never_leaves_the_site_when_signing_in(self, client: TestClient) -> None:
        form = client.get("/review/signin?next=//evil.example/x").text
        assert 'name="next" value="/review"' in form

    def test_decision_without_reason_is_refused_with_the_form_kept(
        self, client: TestClient, rt: Runtime
    ) -> None:
        pair = uncertain_pair(rt, 1)
        csrf = sign_in(client)
        r = client.post(
            f"/review/tasks/{pair.task_id}/decide",
            data={"csrf": csrf, "decision": "link", "person_id": pair.first_person, "reason": " "},
        )
        assert r.status_code == 422 and "a reason is required" in r.text
        with rt.read() as session:
            assert session.get(ReviewTask, pair.task_id).status == "open"  # type: ignore[union-attr]

    def test_viewer_post_is_forbidden(self, client: TestClient, rt: Runtime) -> None:
        pair = uncertain_pair(rt, 2)
        csrf = sign_in(client, "vic")
        r = client.post(
            f"/review/tasks/{pair.task_id}/decide",
            data={"csrf": csrf, "decision": "different", "reason": "x"},
        )
        assert r.status_code == 403

    def test_unknown_pages_answer_404_not_500(self, client: TestClient) -> None:
        sign_in(client)
        assert client.get("/review/tasks/999999").status_code == 404
        assert client.get("/review/persons/999999").status_code == 404
        assert client.get("/review/tasks/abc").status_code == 422

    def test_sign_out_needs_the_csrf_token(self, client: TestClient) -> None:
        csrf = sign_in(client)
        assert client.post("/review/signout", data={"csrf": "nope"}).status_code == 403
        r = client.post("/review/signout", data={"csrf": csrf}, follow_redirects=False)
        assert r.status_code == 303
        assert client.get("/review", follow_redirects=False).status_code == 303


@pytest.mark.sqlite
class TestTaskKinds:
    @pytest.fixture
    def backend(self) -> str:
        return "sqlite"

    def test_health_card_conflict_task_shows_the_rule(self, client: TestClient, rt: Runtime) -> None:
        pair = health_card_conflict(rt, 3)
        sign_in(client)
        queue = client.get("/review?reason=health_card_conflict").text
        assert pair.second.identifier in queue
        page = client.get(f"/review/tasks/{pair.task_id}").text
        assert "Health-card conflict" in page and "health-card-conflict" in page
        assert page.count('class="f-differ"') >= 2  # birth date and sex

    def test_two_candidate_task_offers_a_choice(self, client: TestClient, rt: Runtime) -> None:
        pair, third = two_candidate_task(rt, 4)
        sign_in(client)
        page = client.get(f"/review/tasks/{pair.task_id}").text
        assert f'name="person_id" value="{pair.first_person}"' in page
        assert f'name="person_id" value="{third}"' in page

    def test_opening_a_task_is_audited_as_a_read(self, client: TestClient, rt: Runtime) -> None:
        pair = uncertain_pair(rt, 5)
        sign_in(client)
        client.get(f"/review/tasks/{pair.task_id}")
        with rt.read() as session:
            event = session.scalars(select(AuditEvent).where(AuditEvent.event_type == "review-view")).one()
        assert (event.actor, event.action, event.detail) == (
            "alice",
            "R",
            {"page": "task", "task_id": pair.task_id},
        )
        assert event.patient_ids == [
            f"{pair.second.identifier}^^^&2.25.1002&ISO",
            f"{pair.first.identifier}^^^&2.25.1001&ISO",
        ]

    def test_person_page_lists_its_open_tasks(self, client: TestClient, rt: Runtime) -> None:
        pair = uncertain_pair(rt, 6)
        sign_in(client)
        page = client.get(f"/review/persons/{pair.second_person}").text
        assert f'href="/review/tasks/{pair.task_id}"' in page and "uncertain score" in page

    def test_next_page_link_walks_the_queue(
        self, client: TestClient, rt: Runtime, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from api.review import views

        monkeypatch.setattr(views, "PAGE", 2)
        ids = [uncertain_pair(rt, n).task_id for n in range(20, 25)]
        sign_in(client)
        seen: list[int] = []
        url = "/review"
        while url:
            page = client.get(url).text
            seen += [int(i) for i in re.findall(r'data-href="/review/tasks/(\d+)"', page)]
            found = re.search(r'rel="next" href="([^"]+)"', page)
            url = found.group(1).replace("&amp;", "&") if found else ""
        assert seen == ids
