"""Fixtures for the MLLP adapter tests: a listener on 127.0.0.1 (port 0) over the runtime fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from api.mllp.server import ServerHandle, serve_in_thread
from empi.runtime import Runtime


@pytest.fixture
def listen(make_runtime: Callable[..., Runtime]) -> Iterator[Callable[..., tuple[Runtime, ServerHandle]]]:
    """``rt, handle = listen(**setting_overrides)``: a runtime on the test database and its listener."""
    handles: list[ServerHandle] = []

    def start(**overrides: Any) -> tuple[Runtime, ServerHandle]:
        rt = make_runtime(**overrides)
        handle = serve_in_thread(rt)
        handles.append(handle)
        return rt, handle

    yield start
    for h in handles:
        h.stop()


@pytest.fixture
def listener(listen: Callable[..., tuple[Runtime, ServerHandle]]) -> tuple[Runtime, ServerHandle]:
    return listen()
