"""Workspace names, their databases, keys' reach, bounded metric labels and route templates: pure logic."""

from __future__ import annotations

import pytest

from api.keys import ANONYMOUS, Principal, Scope, bound_workspaces
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
