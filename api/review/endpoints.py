"""The steward review queue: sign-in, queue, task, person and search pages, and the decision forms.

Pages are server-rendered; every POST checks the session's CSRF token and runs one unit of work that
calls a service in :mod:`empi.stewardship`, then redirects (post/redirect/get).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from api.review import views
from api.review.auth import (
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    CsrfRejected,
    NotAllowed,
    SignInRequired,
    check_csrf,
    current_user,
    new_signin_token,
    require_steward,
    runtime,
    safe_next,
    set_cookie,
    signin_url,
)
from empi import audit, review, stewardship, unmerge, users
from empi.commands import RecordKey
from empi.errors import AlreadyResolved, Conflict, EmpiError, InvalidInput, NotFound
from empi.models import Person, SourceRecord

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(prefix="/review", include_in_schema=False)
User = Annotated[users.SignedIn, Depends(current_user)]
DECISIONS = {"link": stewardship.link_to_candidate, "merge": stewardship.merge_persons}
UNDONE_WORDS = {
    "link": "Link undone: the record is back on",
    "person-merge": "Person merge undone: the merged person is active again as",
    "record-merge": "Record merge undone: the merged record is active again on",
}


def page(request: Request, name: str, context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/signin")
def signin_form(request: Request, next: str = "/review", failed: bool = False) -> HTMLResponse:
    token = new_signin_token()
    response = page(
        request,
        "signin.html",
        {"next": safe_next(next), "token": token, "failed": failed},
        status=401 if failed else 200,
    )
    set_cookie(request, response, SIGNIN_COOKIE, token, max_age=3600)
    return response


@router.post("/signin")
def signin(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/review",
) -> Response:
    expected = request.cookies.get(SIGNIN_COOKIE)
    if not expected or token != expected:
        raise CsrfRejected
    with runtime(request).write() as session:
        user = users.authenticate(session, username, password)
        raw = users.start_session(session, user)[0] if user is not None else None
    if raw is None:
        return see_other("/review/signin?" + urlencode({"next": safe_next(next), "failed": "1"}))
    response = see_other(safe_next(next))
    set_cookie(request, response, SESSION_COOKIE, raw, max_age=int(users.SESSION_TTL.total_seconds()))
    response.delete_cookie(SIGNIN_COOKIE, path="/review")
    return response


@router.post("/signout")
def signout(request: Request, who: User, csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(who, csrf)
    with runtime(request).write() as session:
        users.end_session(session, request.cookies.get(SESSION_COOKIE))
    response = see_other("/review/signin")
    response.delete_cookie(SESSION_COOKIE, path="/review")
    return response


@router.get("")
def queue(
    request: Request,
    who: User,
    reason: str = "",
    domain: str = "",
    age: str = "",
    after: Annotated[int | None, Query()] = None,
    done: int | None = None,
) -> HTMLResponse:
    with runtime(request).read() as session:
        data = views.queue(
            session, reason=reason or None, domain=domain or None, age=age or None, after=after
        )
        flash = _flash(session, done)
    return page(request, "queue.html", {"who": who, "q": data, "flash": flash, "after": after})


@router.get("/tasks/{task_id}")
def task_page(request: Request, who: User, task_id: int, done: int | None = None) -> HTMLResponse:
    return _task(request, who, task_id, flash=_flash_of(request, done))


@router.post("/tasks/{task_id}/decide")
def decide(
    request: Request,
    who: User,
    task_id: int,
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    person_id: Annotated[int | None, Form()] = None,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(who, csrf)
    require_steward(who)
    rt = runtime(request)
    try:
        with rt.write() as session:
            if decision == "different":
                stewardship.keep_apart(session, task_id, actor=who.username, reason=reason, rt=rt)
            elif decision in DECISIONS and person_id is not None:
                DECISIONS[decision](
                    session, task_id, person_id=person_id, actor=who.username, reason=reason, rt=rt
                )
            else:
                raise InvalidInput("choose a decision and a candidate", field="decision")
    except EmpiError as exc:
        return _task(request, who, task_id, error=exc, reason=reason)
    with rt.read() as session:
        nxt = review.next_open_task(session, after=review.get_task(session, task_id))
    target = f"/review/tasks/{nxt.id}" if nxt is not None else "/review"
    return see_other(f"{target}?done={task_id}")


@router.get("/persons/{person_id}")
def person_page(
    request: Request,
    who: User,
    person_id: int,
    unlinked: int | None = None,
    undone: str | None = None,
    to: int | None = None,
) -> HTMLResponse:
    with runtime(request).read() as session:
        data = views.person(session, person_id)
        if data is not None:
            data["undos"] = views.undos(session, person_id)
        restored = session.get(Person, to) if undone in UNDONE_WORDS and to else None
    if data is None:
        return page(
            request,
            "message.html",
            {"who": who, "title": "No such person", "text": "There is no person with that number."},
            status=404,
        )
    _audit_view(request, who, "person", data["records"], person_id=person_id)
    flash = (
        {"text": UNDONE_WORDS[undone or ""], "id": restored.id, "regional_id": restored.regional_id}
        if restored is not None
        else None
    )
    return page(request, "person.html", {"who": who, "p": data, "unlinked": unlinked, "undone": flash})


@router.post("/persons/{person_id}/undo")
def undo(
    request: Request,
    who: User,
    person_id: int,
    kind: Annotated[str, Form()] = "",
    target: Annotated[int | None, Form()] = None,
    event_id: Annotated[int | None, Form()] = None,
    reason: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(who, csrf)
    require_steward(who)
    rt = runtime(request)
    try:
        with rt.write() as session:
            done = _undo(session, rt, person_id, kind, target, event_id, actor=who.username, reason=reason)
    except EmpiError as exc:
        with rt.read() as session:
            data = views.person(session, person_id)
            if data is not None:
                data["undos"] = views.undos(session, person_id)
        if data is None:
            return _message(request, who, exc)
        context = {
            "who": who,
            "p": data,
            "error": exc.message,
            "error_undo": (kind, target),
            "reason": reason,
        }
        return page(request, "person.html", context, status=_status(exc))
    return see_other(f"/review/persons/{person_id}?" + urlencode({"undone": done.kind, "to": done.person_id}))


@router.post("/records/{record_id}/unlink")
def unlink(
    request: Request,
    who: User,
    record_id: int,
    reason: Annotated[str, Form()] = "",
    person_id: Annotated[int | None, Form()] = None,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(who, csrf)
    require_steward(who)
    rt = runtime(request)
    try:
        with rt.write() as session:
            out = stewardship.unlink_record(session, record_id, actor=who.username, reason=reason, rt=rt)
    except EmpiError as exc:
        with rt.read() as session:
            data = views.person(session, person_id) if person_id else None
        if data is None:
            return _message(request, who, exc)
        return page(
            request,
            "person.html",
            {"who": who, "p": data, "error": exc.message, "error_record": record_id},
            status=_status(exc),
        )
    return see_other(f"/review/persons/{out.person_id}?unlinked={record_id}")


@router.get("/search")
def search(request: Request, who: User, q: str = "") -> HTMLResponse:
    with runtime(request).read() as session:
        hits = views.search(session, q)
    return page(request, "search.html", {"who": who, "q": q, "hits": hits})


def _task(
    request: Request,
    who: users.SignedIn,
    task_id: int,
    *,
    error: EmpiError | None = None,
    reason: str = "",
    flash: str | None = None,
) -> HTMLResponse:
    with runtime(request).read() as session:
        data = views.task(session, runtime(request), task_id)
    if data is None:
        return page(
            request,
            "message.html",
            {"who": who, "title": "No such task", "text": "There is no review task with that number."},
            status=404,
        )
    shown = ([data["incoming"]] if data["incoming"] else []) + [
        {"domain": c["domain"], "identifier": c["identifier"]} for c in data["candidates"]
    ]
    _audit_view(request, who, "task", shown, task_id=task_id)
    context = {
        "who": who,
        "t": data,
        "error": error.message if error else None,
        "already": isinstance(error, AlreadyResolved),
        "reason": reason,
        "flash": flash,
    }
    return page(request, "task.html", context, status=_status(error) if error else 200)


def _audit_view(
    request: Request, who: users.SignedIn, what: str, records: list[dict[str, Any]], **detail: int
) -> None:
    """Who looked at which patients' demographics (audit action R), in a unit of its own."""
    rt = runtime(request)
    ids = []
    for r in records:
        domain = rt.registry.get(str(r["domain"]))
        ids.append(f"{r['identifier']}^^^&{domain.universal_id if domain else r['domain']}&ISO")
    with rt.write() as session:
        audit.record(
            session,
            event_type="review-view",
            action="R",
            actor=who.username,
            actor_type="user",
            source_address=request.client.host if request.client else None,
            patient_ids=ids,
            person_id=detail.get("person_id"),
            detail={"page": what, **detail},
        )


def _undo(
    session: Any,
    rt: Any,
    person_id: int,
    kind: str,
    target: int | None,
    event_id: int | None,
    *,
    actor: str,
    reason: str,
) -> unmerge.Undone:
    """Apply one undo the person page offered, if it is still on offer (same change, same event)."""
    why = reason.strip()
    if not why:
        raise InvalidInput("a reason is required for every decision", field="reason")
    if len(why) > stewardship.MAX_REASON:
        raise InvalidInput(f"the reason is longer than {stewardship.MAX_REASON} characters", field="reason")
    if session.get(Person, person_id) is None:
        raise NotFound("there is no such person", field="person")
    if kind not in UNDONE_WORDS or target is None or event_id is None:
        raise InvalidInput("choose a change to undo", field="kind")
    offered = {
        (u.kind, u.person_id if u.kind == "person-merge" else u.record_id, u.event_id)
        for u in unmerge.undoable(session, person_id)
    }
    if (kind, target, event_id) not in offered:
        raise Conflict(
            "this change can no longer be undone from this page: it was undone or changed since "
            "the page was shown. Nothing was changed; the page now shows what can be undone."
        )
    if kind == "person-merge":
        return unmerge.undo_person_merge(session, target, rt=rt, actor=actor, reason=why)
    if kind == "link":
        return unmerge.undo_link(session, target, rt=rt, actor=actor, reason=why)
    record = session.get(SourceRecord, target)
    if record is None:
        raise NotFound("there is no such record", field="target")
    return unmerge.undo_record_merge(
        session, RecordKey(record.identifier, record.domain), rt=rt, actor=actor, reason=why
    )


def _status(exc: EmpiError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    return 422


def _message(request: Request, who: users.SignedIn, exc: EmpiError) -> HTMLResponse:
    return page(
        request, "message.html", {"who": who, "title": "Not done", "text": exc.message}, status=_status(exc)
    )


def _flash(session: Any, done: int | None) -> str | None:
    if not done:
        return None
    t = review.get_task(session, done)
    if t is None or t.status == "open":
        return None
    words = {
        "link": "linked to the candidate",
        "different": "kept apart (different person)",
        "merge": "persons merged",
    }
    return f"Task {t.id} resolved: {words.get(t.resolution or '', t.resolution or t.status)}."


def _flash_of(request: Request, done: int | None) -> str | None:
    with runtime(request).read() as session:
        return _flash(session, done)


def install(app: FastAPI) -> None:
    """Mount the queue, its static files and the handlers for its own exceptions."""
    app.mount("/review/static", StaticFiles(directory=str(HERE / "static")), name="review-static")
    app.include_router(router)

    @app.exception_handler(SignInRequired)
    def _signin(request: Request, exc: SignInRequired) -> Response:
        return see_other(signin_url(exc.next_path))

    @app.exception_handler(CsrfRejected)
    def _csrf(request: Request, exc: CsrfRejected) -> Response:
        return page(
            request,
            "message.html",
            {
                "who": None,
                "title": "Form expired",
                "text": "This form did not carry a valid security token, so "
                "nothing was changed. Reload the page and try again.",
            },
            status=403,
        )

    @app.exception_handler(NotAllowed)
    def _viewer(request: Request, exc: NotAllowed) -> Response:
        return page(
            request,
            "message.html",
            {
                "who": None,
                "title": "Viewers cannot decide",
                "text": "Your account may look at the queue but not decide. Nothing was changed.",
            },
            status=403,
        )
