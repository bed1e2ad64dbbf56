"""The FHIR base at ``/fhir``: mounts PIXm, PDQm and the CapabilityStatement, and turns every
failure on these routes into an OperationOutcome (never a traceback, never FastAPI's ``detail``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.routing import Route

from api.fhir.errors import FhirError, from_core
from api.fhir.formats import render_error, safe_format
from empi.errors import EmpiError

log = logging.getLogger("empi.fhir")
PREFIX = "/fhir"


async def answer(request: Request, handler: Callable[[Request], Awaitable[Response]]) -> Response:
    """The handler's response, or its failure as an OperationOutcome in the negotiated format."""
    try:
        return await handler(request)
    except FhirError as exc:
        error = exc
    except EmpiError as exc:
        error = from_core(exc)
    except RequestValidationError:
        error = FhirError(400, "invalid", "the request parameters are not valid")
    except HTTPException as exc:
        error = FhirError(exc.status_code, "processing", str(exc.detail))
    except Exception:  # the outermost adapter boundary: log, answer 500, never leak a traceback
        log.exception("FHIR %s %s failed", request.method, request.url.path)
        error = FhirError(500, "exception", "internal error; the request was not completed")
    return render_error(error, safe_format(request))


class FhirRoute(APIRoute):
    """An APIRoute whose failures are answered as OperationOutcomes in the negotiated format."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            return await answer(request, handler)

        return guarded


def fhir_router() -> APIRouter:
    return APIRouter(route_class=FhirRoute)


def install(app: FastAPI) -> None:
    from api.fhir import metadata, pdqm, pixm
    from api.fhir.auth import TokenCache

    app.state.fhir_tokens = TokenCache()
    # ITI-83 GET, the hot path, goes first and straight to its handler: no walk through the other routers,
    # no dependency resolution. The declared route below (same behaviour) stays for POST and the docs.
    app.router.routes.insert(0, Route(f"{PREFIX}/Patient/$ihe-pix", pixm.pix_query_fast, methods=["GET"],
                                      include_in_schema=False))
    root = APIRouter(prefix=PREFIX, route_class=FhirRoute, tags=["fhir"])
    root.include_router(metadata.router)
    root.include_router(pixm.router)
    root.include_router(pdqm.router)
    root.include_router(_fallback)
    app.include_router(root)


_fallback = fhir_router()


@_fallback.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False)
def unsupported(path: str, request: Request) -> Response:
    """Anything else under /fhir: an OperationOutcome rather than FastAPI's JSON 404/405."""
    if path.startswith("Patient"):
        raise FhirError(405, "not-supported", f"{request.method} {PREFIX}/{path} is not supported")
    raise FhirError(404, "not-supported", f"{PREFIX}/{path} is not a supported resource or operation")
