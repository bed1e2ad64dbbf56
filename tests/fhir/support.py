"""FHIR test helpers: the P-PIXm-IHE profile, clients registered the CLI's way, and a real uvicorn
server on a free port (started in a thread, stopped by the fixture that made it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from api.app import create_app
from api.fhir.auth import SCOPES, create_client
from empi.config import Settings, parse_settings
from empi.runtime import Runtime

REPO = Path(__file__).resolve().parents[2]
PIXM_SCORECARD = REPO / "tests" / "data" / "scorecards" / "pixm-ihe-v1.json"
RED, GREEN, BLUE = ("urn:oid:1.3.6.1.4.1.21367.13.20.1000", "urn:oid:1.3.6.1.4.1.21367.13.20.2000",
                    "urn:oid:1.3.6.1.4.1.21367.13.20.3000")
ALL_SCOPES = tuple(SCOPES)


def pixm_ihe(**service: Any) -> Settings:
    """README §2 P-PIXm-IHE: Red, Green and Blue, fed over ITI-104; the profile's scorecard links
    name + birth date + gender (README §4.1 step 3), see tests/data/scorecards/pixm-ihe-v1.json."""
    return parse_settings({
        "service": {"scorecard": str(PIXM_SCORECARD), **service},
        "regional": {"namespace": "EMPI", "universal_id": "2.25.271828182845904523536"},
        "domains": [{"namespace": "IHERED", "universal_id": "1.3.6.1.4.1.21367.13.20.1000"},
                    {"namespace": "IHEGREEN", "universal_id": "1.3.6.1.4.1.21367.13.20.2000"},
                    {"namespace": "IHEBLUE", "universal_id": "1.3.6.1.4.1.21367.13.20.3000"}],
    }, "P-PIXm-IHE")


def new_token(rt: Runtime, name: str, scopes: tuple[str, ...] = ALL_SCOPES) -> str:
    """A client created through the same code path as ``empi clients add``."""
    with rt.write() as session:
        return create_client(session, name, list(scopes))


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class LiveServer:
    url: str  # the FHIR base, http://127.0.0.1:PORT/fhir
    port: int


@contextmanager
def live_server(rt: Runtime) -> Iterator[LiveServer]:
    """The full HTTP app (create_app) under uvicorn on 127.0.0.1, a free port."""
    config = uvicorn.Config(create_app(rt), host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}/fhir", port=port)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
