"""Workspace names, their databases, keys' reach, bounded metric labels and route templates: pure logic."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.keys import ANONYMOUS, Principal, Scope, bound_workspaces
from api.main import create_app
from api.metrics import WORKSPACE_LABELS, Metrics
from api.middleware import route_template
from graphrag.config import Settings
from schema.workspaces import (
    DEFAULT,
    WorkspaceNameError,
    check_name,
    database_name,
    names_in,
    settings_for,
)


@pytest.mark.parametrize("name", ["a", "acme", "team_2", "x" * 32])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "A", "2a", "a-b", "a b", "../b", "a/b", "x" * 33, "é", "a\x00"])
def test_invalid_names_say_the_rule(name: str) -> None:
    with pytest.raises(WorkspaceNameError, match="lowercase letters, digits and '_'"):
        check_name(name)


def test_each_workspace_has_its_own_database_and_default_is_the_configured_one() -> None:
    settings = Settings(db_name="graphrag")
    assert database_name(settings, DEFAULT) == "graphrag"
    assert database_name(settings, "acme") == "graphrag_ws_acme"
    assert settings_for(settings, "acme").db_name == "graphrag_ws_acme"
    assert settings_for(settings, "acme").embedding_dim == settings.embedding_dim
    with pytest.raises(WorkspaceNameError):
        database_name(settings, "../graphrag")


def test_workspaces_are_read_from_the_servers_databases() -> None:
    settings = Settings(db_name="graphrag")
    databases = ["graphrag", "graphrag_ws_beta", "other", "graphrag_ws_alpha", "graphrag_ws_Bad", "graphragx_ws_c",
                 "graphrag_ws_default"]
    assert names_in(databases, settings) == ["default", "alpha", "beta"]


def test_keys_reach_only_their_workspaces_and_scopes_nest() -> None:
    read = Principal("k1", Scope.read, frozenset({"alpha"}))
    admin = Principal("k2", Scope.admin, frozenset({"alpha", "beta"}))
    assert read.sees("alpha") and not read.sees("beta") and not read.sees(DEFAULT)
    assert admin.sees("beta") and not admin.sees(DEFAULT)
    assert read.allows(Scope.read) and not read.allows(Scope.admin) and not read.allows(Scope.global_)
    assert admin.allows(Scope.admin) and not admin.allows(Scope.global_)
    assert ANONYMOUS.sees("anything") and ANONYMOUS.allows(Scope.global_)


def test_stored_keys_map_to_their_reach() -> None:
    assert bound_workspaces(Scope.global_, ["alpha"]) is None  # global reaches every workspace
    assert bound_workspaces(Scope.read, None) == frozenset({DEFAULT})  # a key from before workspaces
    assert bound_workspaces(Scope.admin, ["alpha", "beta"]) == frozenset({"alpha", "beta"})
    assert Scope.parse("global") is Scope.global_ and Scope.parse("owner") is None and Scope.parse(None) is None


def test_metric_labels_stay_bounded() -> None:
    metrics = Metrics()
    labels = [metrics.workspace_label(f"w{i}") for i in range(WORKSPACE_LABELS + 30)]
    assert labels[:WORKSPACE_LABELS] == [f"w{i}" for i in range(WORKSPACE_LABELS)]
    assert set(labels[WORKSPACE_LABELS:]) == {"other"}
    assert metrics.workspace_label("w0") == "w0" and metrics.workspace_label(None) == "-"


class _Keys:
    """The key verifier's two calls, over a fixed table (the real one reads ApiKey rows)."""

    def __init__(self, table: dict[str, Principal]):
        self.table = table

    def cached(self, key: str) -> Principal | None:
        return self.table.get(key)

    async def verify(self, key: str) -> Principal | None:
        return self.table.get(key)


def test_metrics_show_a_bound_key_only_its_own_workspaces() -> None:
    app = create_app(Settings(api_keys_required=True))
    app.state.key_verifier = _Keys({"alpha-key": Principal("k1", Scope.read, frozenset({"alpha"})),
                                    "global-key": Principal("k2", Scope.global_, None)})
    metrics: Metrics = app.state.metrics
    for workspace in ["alpha", "beta"] + [f"w{i}" for i in range(WORKSPACE_LABELS)]:  # the last ones are "other"
        label = metrics.workspace_label(workspace)
        metrics.request_seconds.labels("POST", "/v1/workspaces/{workspace}/ask", "200", label).observe(0.1)
        metrics.ingest_documents.labels(label).inc(3)
    metrics.request_seconds.labels("GET", "/healthz", "200", metrics.workspace_label(None)).observe(0.01)
    client = TestClient(app, base_url="http://127.0.0.1:8000")

    bound = client.get("/metrics", headers={"X-API-Key": "alpha-key"})
    assert bound.status_code == 200
    assert 'graphrag_ingest_documents_total{workspace="alpha"} 3.0' in bound.text
    assert 'workspace="-"' in bound.text  # series outside any workspace name none
    for hidden in ("beta", "other", "w0"):
        assert f'workspace="{hidden}"' not in bound.text, hidden
    assert "graphrag_retrieval_duration_seconds" in bound.text  # families without the label stay whole

    every = client.get("/metrics", headers={"Authorization": "Bearer global-key"}).text
    assert all(f'workspace="{w}"' in every for w in ("alpha", "beta", "other", "-"))


class _Route:
    def __init__(self, path: str):
        self.path = path


@pytest.mark.parametrize(("route", "path", "params", "template"), [
    ("/retrieve", "/v1/workspaces/acme/retrieve", {"workspace": "acme"}, "/v1/workspaces/{workspace}/retrieve"),
    ("/retrieve", "/v1/retrieve", {}, "/v1/retrieve"),
    ("/documents/{document_id:path}", "/v1/documents/a", {"document_id": "a"}, "/v1/documents/{document_id:path}"),
    ("/mcp", "/mcp", {}, "/mcp"),
    ("/mcp", "/v1/workspaces/acme/mcp", {"workspace": "acme"}, "/v1/workspaces/{workspace}/mcp"),
    ("/v1/workspaces/{workspace}", "/v1/workspaces/acme", {"workspace": "acme"}, "/v1/workspaces/{workspace}"),
    ("/healthz", "/healthz", {}, "/healthz"),
])
def test_route_templates_keep_their_prefix(route: str, path: str, params: dict[str, str], template: str) -> None:
    assert route_template({"type": "http", "route": _Route(route), "path": path, "path_params": params}) == template
    assert route_template({"type": "http", "path": path}) == "unmatched"
