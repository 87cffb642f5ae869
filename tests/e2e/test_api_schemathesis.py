"""Property-based fuzzing of every documented operation: whatever schemathesis generates from the
OpenAPI schema, the live service never answers 5xx. Bounded (a few examples per operation) so CI
stays fast; raise SCHEMATHESIS_MAX_EXAMPLES locally to dig deeper."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from api.deps import Components
from api.main import create_app
from graphrag.config import Settings
from tests.e2e.conftest import live_server

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "6"))

# The schema alone: building the app runs no lifespan, so this needs no database.
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


@pytest.fixture(scope="module")
def base_url(settings: Settings, components: Components) -> Iterator[str]:
    with live_server(create_app(settings, components=components)) as url:
        yield url


@pytest.fixture(scope="module")
def admin_headers(keys: dict[str, str]) -> dict[str, str]:
    return {"X-API-Key": keys["admin"]}


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case, base_url: str, admin_headers: dict[str, str]) -> None:
    case.call_and_validate(base_url=base_url, headers=admin_headers, checks=[not_a_server_error])
