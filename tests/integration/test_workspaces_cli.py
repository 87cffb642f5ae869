"""`graphrag workspace`, `--workspace` on ingest, documents, search and schema, and keys bound to
workspaces, through the real command line against the session's ArcadeDB server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.keys import hash_key
from cli.main import app
from graphrag.arcadedb import ArcadeDB
from graphrag.embedded import EmbeddedServer

DOC = ("# Vantor Lighthouse\n\nThe Vantor Lighthouse stands on the cape of Ellisgard. It was designed by the "
       "architect Mirela Oskan, who also built the harbour of Ellisgard.\n")


@pytest.fixture(scope="module")
def control(make_db: Callable[..., ArcadeDB]) -> ArcadeDB:
    return make_db("wscli")


@pytest.fixture(scope="module")
def flags(server: EmbeddedServer, control: ArcadeDB, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    password_file = tmp_path_factory.mktemp("secret") / "db-password"
    password_file.write_text(server.password + "\n", encoding="utf-8")
    return ["--db-url", server.url, "--db-password-file", str(password_file), "--db-name", control.database]


def run(flags: list[str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*flags, *args])
    return result.exit_code, result.output


def test_workspace_lifecycle_from_the_command_line(flags: list[str], control: ArcadeDB, tmp_path: Path) -> None:
    code, output = run(flags, "workspace", "create", "alpha")
    assert code == 0 and "created workspace 'alpha'" in output, output
    assert f"{control.database}_ws_alpha" in control.list_databases()
    assert run(flags, "workspace", "create", "alpha")[0] == 3
    assert run(flags, "workspace", "create", "Not-Valid")[0] == 2
    code, output = run(flags, "workspace", "list")
    assert code == 0 and "default" in output and "alpha" in output

    # a workspace is never made by naming it
    source = tmp_path / "lighthouse.md"
    source.write_text(DOC, encoding="utf-8")
    code, output = run(flags, "ingest", "--workspace", "nosuch", "--no-progress", str(source))
    assert code == 4 and "no workspace named 'nosuch'" in output
    assert f"{control.database}_ws_nosuch" not in control.list_databases()

    code, output = run(flags, "ingest", "--workspace", "alpha", "--no-progress", str(source))
    assert code == 0, output
    code, output = run(flags, "documents", "list", "--workspace", "alpha")
    assert code == 0 and "Vantor Lighthouse" in output
    code, output = run(flags, "documents", "list")  # the default workspace holds none of it
    assert code == 0 and "Vantor Lighthouse" not in output
    code, output = run(flags, "search", "--workspace", "alpha", "--json", "Who designed the lighthouse on the cape?")
    assert code == 0, output
    sources = json.loads(output[output.index("{"):])["sources"]  # after the line saying no service answered
    assert sources and {s["title"] for s in sources} == {"Vantor Lighthouse"}

    code, output = run(flags, "schema", "migrate")
    assert code == 0 and "workspace default" in output and "workspace alpha" in output
    code, output = run(flags, "schema", "migrate", "--workspace", "alpha")
    assert code == 0 and "up to date" in output

    assert run(flags, "workspace", "delete", "alpha")[0] == 2  # no --yes
    assert run(flags, "workspace", "delete", "default", "--yes")[0] == 3
    code, output = run(flags, "workspace", "delete", "alpha", "--yes")
    assert code == 0 and "deleted workspace 'alpha'" in output
    assert f"{control.database}_ws_alpha" not in control.list_databases()
    assert run(flags, "workspace", "delete", "alpha", "--yes")[0] == 4
    assert run(flags, "documents", "list", "--workspace", "alpha")[0] == 4


def test_api_keys_are_bound_to_workspaces(flags: list[str], control: ArcadeDB) -> None:
    code, output = run(flags, "api-key", "create", "--scope", "read", "--workspace", "alpha", "--workspace", "beta")
    assert code == 0, output
    key = output.strip().splitlines()[-1]
    stored = control.cypher("MATCH (k:ApiKey {hash: $h}) RETURN k.scope AS scope, k.workspaces AS workspaces",
                            {"h": hash_key(key)})
    assert stored == [{"scope": "read", "workspaces": ["alpha", "beta"]}]
    code, output = run(flags, "api-key", "create", "--scope", "global")
    assert code == 0
    assert run(flags, "api-key", "create", "--scope", "global", "--workspace", "alpha")[0] == 2
    assert run(flags, "api-key", "create", "--scope", "read", "--workspace", "Bad Name")[0] == 2
    assert run(flags, "api-key", "create", "--scope", "owner")[0] == 2
    code, output = run(flags, "api-key", "list")
    assert code == 0 and "alpha, beta" in output and "*" in output
