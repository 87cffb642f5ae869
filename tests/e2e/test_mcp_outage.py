"""With the database stopped, every MCP tool that needs it answers a tool error that says to retry, over
both transports, and the session goes on (it never crashes)."""

from __future__ import annotations

from pathlib import Path

from api.main import create_app
from graphrag.config import Settings, ensure_password_file
from graphrag.embeddings import SentenceTransformerEmbedder
from tests.conftest import free_port
from tests.e2e.conftest import live_server, own_database
from tests.e2e.mcp_client import http_session, stdio_session

DOWN = "the database is unreachable right now; retry in a few seconds"
QUESTION = {"question": "Where was Marie Curie born?"}


def test_database_down_is_a_tool_error_over_http_and_stdio(tmp_path: Path,
                                                           embedder: SentenceTransformerEmbedder) -> None:
    # Our own server: stopping the session's would break every other test. Keys not required
    # (loopback): MCP without a key acts as admin, exactly like the REST API.
    with own_database(tmp_path, embedder) as own:
        srv, settings, components = own.server, own.settings, own.components
        with live_server(create_app(settings, components=components)) as base, \
                (tmp_path / "stdio.log").open("w", encoding="utf-8") as log, \
                http_session(base + "/mcp") as http, stdio_session(settings, log) as stdio:
            http.ok("add_document", {"id": "curie", "title": "Marie Curie",
                                     "text": "Marie Curie was born in Warsaw in 1867. She studied in Paris."})
            for client in (http, stdio):
                assert client.ok("retrieve", QUESTION)["passages"][0]["document_id"] == "curie"

            srv.stop()  # every request reads the database: both transports meet the outage at once
            assert DOWN in http.error("retrieve", QUESTION) and DOWN in stdio.error("retrieve", QUESTION)
            for client in (http, stdio):
                for name, arguments in (("ask", QUESTION), ("list_documents", {}),
                                        ("entity_neighbourhood", {"entity": "Warsaw"}),
                                        ("add_document", {"title": "Paris", "text": "Paris is on the Seine."})):
                    message = client.error(name, arguments)
                    assert DOWN in message, (name, message)
                    assert srv.url not in message and "Traceback" not in message
                assert len(client.list_tools().tools) == 6  # the session still answers


def test_stdio_names_the_real_cause_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    """`graphrag mcp` as a desktop client starts it, against the embedded default: first with a data folder
    that holds no database (GRAPHRAG_DATA_DIR wrong or unset), then with one whose server is not
    running. Either way the tool error says so and what to do, not "retry in a few seconds"."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings = Settings(data_dir=data_dir, db_port=free_port(), db_retries=1, db_retry_max_s=1, db_timeout_s=2)
    with (tmp_path / "stdio.log").open("w", encoding="utf-8") as log:
        with stdio_session(settings, log) as stdio:
            message = stdio.error("retrieve", QUESTION)
        assert "GRAPHRAG_DATA_DIR" in message and str(data_dir.resolve()) in message, message
        assert "graphrag db start" in message and DOWN not in message

        ensure_password_file(settings.password_file)  # a data folder `graphrag db start` made, server stopped
        with stdio_session(settings, log) as stdio:
            message = stdio.error("retrieve", QUESTION)
        assert message.startswith("Error executing tool retrieve: the database is not running"), message
        assert "graphrag db start" in message and DOWN not in message
