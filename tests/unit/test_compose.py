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
    assert compose.service_names() == ["arcadedb", "api", "vllm", "arcadedb-1", "arcadedb-2", "arcadedb-3",
                                       "migrate-ha", "api-ha", "lb"]


def test_default_stack_is_unchanged_by_the_profiles() -> None:
    """`docker compose up` starts the services without a profile: still the one database and one API."""
    services = _compose()["services"]
    assert [name for name, s in services.items() if not s.get("profiles")] == ["arcadedb", "api"]
    assert services["api"]["environment"]["GRAPHRAG_DB_URL"] == "http://arcadedb:2480"


HA_NODES = ["arcadedb-1", "arcadedb-2", "arcadedb-3"]


def _java_opts(service: dict) -> dict[str, str]:  # type: ignore[type-arg]
    opts = {}
    for part in service["environment"]["JAVA_OPTS"].split():
        name, _, value = part.removeprefix("-D").partition("=")
        opts[name] = value
    return opts


def test_ha_profile_three_raft_nodes_with_quorum_and_readiness() -> None:
    compose = _compose()
    services = compose["services"]
    server_list = None
    for name in HA_NODES:
        node = services[name]
        assert node["profiles"] == ["ha"] and node["image"] == "arcadedata/arcadedb:26.10.2"
        opts = _java_opts(node)
        assert opts["arcadedb.server.name"] == name and node["hostname"] == name
        assert opts["arcadedb.ha.enabled"] == "true" and opts["arcadedb.ha.quorum"] == "majority"
        assert opts["arcadedb.server.readinessRequiresHA"] == "true"
        assert opts["arcadedb.ha.clusterTokenPath"] == "/run/secrets/arcadedb_cluster_token"
        assert opts["arcadedb.server.rootPasswordPath"] == "/run/secrets/arcadedb_root_password"
        assert not any("rootPassword=" in o or "clusterToken=" in o for o in node["environment"]["JAVA_OPTS"].split())
        server_list = server_list or opts["arcadedb.ha.serverList"]
        assert opts["arcadedb.ha.serverList"] == server_list  # every node knows the same cluster
        assert "/api/v1/ready" in " ".join(node["healthcheck"]["test"])
        assert "ports" not in node  # the cluster is reached through the API, never published
        assert {v.split(":")[0] for v in node["volumes"]} == {f"{name}-databases", f"{name}-log"}  # its own data
    assert server_list is not None
    assert [entry.split(":") for entry in server_list.split(",")] == [[n, "2434", "2480"] for n in HA_NODES]
    assert compose["secrets"]["arcadedb_cluster_token"] == {"environment": "ARCADEDB_CLUSTER_TOKEN"}


def test_ha_profile_api_replicas_behind_a_balancer() -> None:
    services = _compose()["services"]
    api = services["api-ha"]
    assert api["deploy"]["replicas"] >= 2 and "ports" not in api  # reached only through the balancer
    urls = api["environment"]["GRAPHRAG_DB_URLS"].split(",")
    assert urls == [f"http://{n}:2480" for n in HA_NODES]
    assert api["environment"]["GRAPHRAG_DB_PASSWORD_FILE"] == "/run/secrets/arcadedb_root_password"
    assert "GRAPHRAG_DB_PASSWORD" not in api["environment"]
    assert api["environment"]["GRAPHRAG_API_FORWARDED_ALLOW_IPS"] == "*"  # per-client limits see clients
    assert api["volumes"] == ["api-ha-data:/data"]  # uploads shared: an adopted job finds its files
    assert api["command"] == ["graphrag", "serve"]  # migrations ran once, before it
    assert api["depends_on"]["migrate-ha"]["condition"] == "service_completed_successfully"
    migrate = services["migrate-ha"]
    assert migrate["command"] == ["graphrag", "schema", "migrate"]
    assert all(migrate["depends_on"][n]["condition"] == "service_healthy" for n in HA_NODES)
    lb = services["lb"]
    assert lb["image"].startswith("nginx:") and lb["depends_on"]["api-ha"]["condition"] == "service_healthy"
    config = (ROOT / _compose()["configs"]["nginx_ha"]["file"]).read_text()
    assert "server api-ha:8000 resolve" in config and "proxy_buffering off" in config
    assert services["vllm"]["profiles"] == ["gpu"]  # the same vLLM serves the HA replicas


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
        if service.get("restart") != "no":  # a one-shot job (migrate-ha) ends instead of staying healthy
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
    assert text.index("torch==2.13.0") < text.index('pip install -e ".[ray]"')


def test_api_image_carries_the_web_console() -> None:
    """The image serves the console at /: its page and Cytoscape.js are package data of `api`
    (api/console), so copying api/ carries them; no npm stage, no node_modules."""
    from api.web import CYTOSCAPE, STATIC_DIR

    text = (ROOT / "Dockerfile").read_text()
    assert STATIC_DIR.relative_to(ROOT).parts[0] == "api" and CYTOSCAPE.is_relative_to(STATIC_DIR)
    assert "COPY api ./api" in text and 'pip install -e ".[ray]"' in text
    assert "npm" not in text and "node_modules" not in text


def test_api_trusts_forwarded_for_only_from_the_configured_proxies() -> None:
    from api.server import uvicorn_config
    from graphrag.config import Settings

    assert uvicorn_config(object(), Settings()).forwarded_allow_ips == "127.0.0.1"
    config = uvicorn_config(object(), Settings(api_forwarded_allow_ips="10.0.0.5"))
    assert config.proxy_headers and config.forwarded_allow_ips == "10.0.0.5"
