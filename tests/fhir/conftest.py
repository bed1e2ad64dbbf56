from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from empi.runtime import Runtime
from tests.fhir.support import auth, new_token, pixm_ihe


@pytest.fixture
def pixm_rt(make_runtime: Callable[..., Runtime]) -> Runtime:
    return make_runtime(pixm_ihe())


@pytest.fixture
def client(pixm_rt: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(pixm_rt)) as c:
        yield c


@pytest.fixture
def headers(pixm_rt: Runtime) -> dict[str, str]:
    return auth(new_token(pixm_rt, "all-scopes"))
