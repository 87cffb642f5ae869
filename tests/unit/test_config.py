import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from graphrag.config import Settings, ensure_password_file
from graphrag.errors import ConfigError


def test_env_prefix_and_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GRAPHRAG_DB_NAME", "other")
    monkeypatch.setenv("GRAPHRAG_DATA_DIR", str(tmp_path))
    s = Settings()
    assert s.db_name == "other" and s.embedded and s.url == "http://127.0.0.1:2480"


@pytest.mark.parametrize("bad", ["playwithdata", "changeme", ""])
def test_placeholder_passwords_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        Settings(db_password=bad)


def test_db_name_is_validated() -> None:
    with pytest.raises(ValidationError):
        Settings(db_name="x; drop")


def test_generated_password_is_owner_only_and_stable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = Settings(data_dir=tmp_path)
    with pytest.raises(ConfigError, match="graphrag db start"):
        s.password()
    first = ensure_password_file(s.password_file)
    assert len(first) >= 24
    assert stat.S_IMODE(s.password_file.stat().st_mode) == 0o600
    assert ensure_password_file(s.password_file) == first == s.password()


def test_settings_survive_the_trip_to_a_worker_process(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`graphrag serve` with api_workers > 1 exports its settings (CLI options included) as GRAPHRAG_*
    variables; each worker rebuilds them from the environment."""
    original = Settings(data_dir=tmp_path, db_url="http://db:2480", db_password="s3cret-pw", api_port=18123,
                        api_keys_required=False, api_workers=2, api_traced_embedder=False, llm_temperature=0.3)
    for name in list(os.environ):
        if name.startswith("GRAPHRAG_"):
            monkeypatch.delenv(name)
    for name, value in original.to_env().items():
        monkeypatch.setenv(name, value)
    rebuilt = Settings()
    assert rebuilt.model_dump() == original.model_dump()
    assert rebuilt.db_password is not None and rebuilt.db_password.get_secret_value() == "s3cret-pw"


@pytest.mark.parametrize(("base_url", "explicit", "on"), [
    ("local", None, True), (" LOCAL ", None, True), ("http://vllm:8000/v1", None, False), (None, None, False),
    ("local", False, False), ("http://llama:8080/v1", True, True),
])
def test_citation_grammar_defaults_to_the_local_llama_cpp_server_only(base_url: str | None, explicit: bool | None,
                                                                      on: bool) -> None:
    # vLLM and Ollama do not take llama.cpp's "grammar" field: it is on by default only for `local`.
    assert Settings(llm_base_url=base_url, llm_citation_grammar=explicit).llm_citation_grammar_on is on


def test_password_file_is_read_and_a_missing_one_is_one_clear_error(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n", encoding="utf-8")
    assert Settings(db_url="http://db:2480", db_password_file=secret).password() == "from-a-file"
    assert Settings(db_url="http://db:2480", db_password="s3cret-pw", db_password_file=secret).password() == "s3cret-pw"
    with pytest.raises(ConfigError, match="GRAPHRAG_DB_PASSWORD_FILE"):
        Settings(db_url="http://db:2480", db_password_file=tmp_path / "missing").password()
