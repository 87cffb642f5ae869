"""docker-compose.yml must be valid Compose for the production stack (no Docker engine runs here)."""

from pathlib import Path

import pytest
import yaml
from compose_spec import PyCompose

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_is_valid_compose_spec() -> None:
    compose = PyCompose.from_yaml((ROOT / "docker-compose.yml").read_text())
    compose.validate()
    assert compose.service_names() == ["arcadedb", "api", "vllm"]


def test_validator_rejects_invalid_compose() -> None:
    with pytest.raises(ValueError, match="healthcheck"):
        PyCompose.from_yaml("services:\n  a:\n    image: x\n    healthcheck:\n      bogus: 1\n").validate()


def test_services_and_images() -> None:
    services = _compose()["services"]
    assert services["arcadedb"]["image"] == "arcadedata/arcadedb:26.10.2"
    assert services["vllm"]["image"].startswith("vllm/vllm-openai")
    assert services["vllm"]["profiles"] == ["gpu"]
    assert (ROOT / services["api"]["build"]["dockerfile"]).exists()


def test_every_service_has_a_healthcheck_and_named_volumes_exist() -> None:
    compose = _compose()
    for name, service in compose["services"].items():
        assert "test" in service["healthcheck"], name
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith(("/", ".")):
                assert source in compose["volumes"], f"{name}: undeclared volume {source}"


def test_password_is_a_secret_file_required_from_the_environment() -> None:
    compose = _compose()
    assert compose["x-require-password"].startswith("${ARCADEDB_ROOT_PASSWORD:?")  # no default: refused unset
    assert compose["secrets"]["arcadedb_root_password"] == {"environment": "ARCADEDB_ROOT_PASSWORD"}
    arcadedb, api = compose["services"]["arcadedb"], compose["services"]["api"]
    java_opts = arcadedb["environment"]["JAVA_OPTS"]
    assert "-Darcadedb.server.rootPasswordPath=/run/secrets/arcadedb_root_password" in java_opts
    assert "rootPassword=" not in java_opts  # never a java argument
    assert api["environment"]["GRAPHRAG_DB_PASSWORD_FILE"] == "/run/secrets/arcadedb_root_password"
    assert "GRAPHRAG_DB_PASSWORD" not in api["environment"]
    assert arcadedb["secrets"] == api["secrets"] == ["arcadedb_root_password"]
    assert api["depends_on"]["arcadedb"]["condition"] == "service_healthy"


def test_api_dockerfile_installs_cpu_torch_first() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.index("torch==2.13.0") < text.index("pip install .")
