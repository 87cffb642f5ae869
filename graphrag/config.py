"""Settings, read from `GRAPHRAG_*` environment variables (and CLI flags that override them).

This is the only module that reads the environment. Library code receives a `Settings`
(or the values it needs) through its constructor.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from graphrag.errors import ConfigError

QuestionDtype = Literal["float32", "bfloat16", "int8"]  # the question encoder's weights (graphrag.embeddings)
QuestionRuntime = Literal["onnxruntime", "torchscript"]  # what runs the question encoder (graphrag.embeddings)

PASSWORD_FILE = "arcadedb_root_password"  # noqa: S105 - a file name, not a secret
_PLACEHOLDER_SECRETS = {"", "playwithdata", "changeme", "change-me", "password", "root", "secret", "arcadedb"}
_DB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104 - names of "every interface", compared, not bound


def is_loopback_host(host: str) -> bool:
    """Whether binding `host` keeps the service on this machine (localhost, 127.0.0.0/8, ::1)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _name_list(value: object) -> object:
    """A list setting from the environment: a JSON list, or names separated by commas."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Everything configurable, with embedded-default values that need no setup.

    `db_url` unset means "the embedded server": `graphrag db start` runs it on 127.0.0.1:`db_port`
    with its data and its generated root password under `data_dir`.
    """

    model_config = SettingsConfigDict(env_prefix="GRAPHRAG_", extra="ignore")

    data_dir: Path = Field(Path(".data"), description="Folder for the embedded server, password, logs")
    db_url: str | None = Field(None, description="URL of an existing ArcadeDB server; unset = embedded")
    db_urls: Annotated[list[str] | None, NoDecode] = Field(
        None, description="Several ArcadeDB servers (an HA cluster's nodes, comma-separated): writes go to the "
                          "leader, reads to any node, a server that cannot be reached is passed over; "
                          "takes the place of db_url")
    db_port: int = Field(2480, ge=1, le=65535, description="HTTP port of the embedded server")
    db_name: str = Field("graphrag", description="ArcadeDB database name")
    db_user: str = Field("root", description="ArcadeDB user")
    db_password: SecretStr | None = Field(None, description="ArcadeDB password; unset = generated file")
    db_password_file: Path | None = Field(None, description="File holding the ArcadeDB password (a Docker or "
                                          "Kubernetes secret); used when db_password is unset")
    db_heap: str = Field("2g", pattern=r"^\d+[mMgG]$", description="Java heap of the embedded server")
    db_timeout_s: float = Field(30.0, gt=0, description="Timeout of one HTTP call to ArcadeDB")
    db_retries: int = Field(5, ge=1, le=20, description="Attempts for a call that failed transiently")
    db_retry_max_s: float = Field(20.0, gt=0, description="Give up retrying after this many seconds")

    embedding_model: str = Field(
        "all-MiniLM-L6-v2",
        description="'all-MiniLM-L6-v2' (the packaged copy) or a local sentence-transformers folder",
    )
    embedding_dim: int = Field(384, ge=8, le=8192, description="Dimension of the embedding model")
    embedding_batch_size: int = Field(32, ge=1, description="Texts embedded per model call")

    # --- HTTP API (api/) ----------------------------------------------------------------------------
    api_host: str = Field("127.0.0.1", description="Interface the API binds; loopback by default")
    api_port: int = Field(8000, ge=1, le=65535, description="Port the API listens on")
    api_max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024,
                                    description="Largest request body accepted (larger: HTTP 413)")
    api_allowed_ingest_dir: Path | None = Field(
        None, description="Server folder that ingest jobs may read paths from; unset = server paths refused")
    api_keys_required: bool | None = Field(
        None, description="Require API keys; unset = required unless the API binds a loopback address")
    api_retry_after_s: int = Field(5, ge=1, description="Retry-After seconds sent with HTTP 503")
    api_job_stale_s: float = Field(30.0, gt=0, description="A job whose heartbeat is older is adopted")
    api_native_threads: int = Field(1, ge=0, le=64, description="Threads per torch/BLAS call in the API "
                                    "process (concurrent requests already fill the cores); 0 = library default")
    api_ner_process: bool = Field(True, description="Find the names in questions (spaCy NER) in a child process "
                                  "of the API, off its GIL (about 150 MB more); false = in the API process")
    api_workers: int = Field(1, ge=1, le=32, description="API worker processes of `graphrag serve` (each loads its "
                             "own models, about 1.1 GB); >1 shares metrics and snapshot invalidation between them")
    retrieval_cache_rows: int = Field(400_000, ge=0, description="Rows of the graph that questions read "
                                      "(mentions, SAME_AS edges, keys looked up, answered passages' texts counted "
                                      "by length; about 0.3-0.5 KB each) kept in "
                                      "memory while the graph is unchanged, for all workspaces together; 0 = off")
    retrieval_dense_ef_search: int = Field(0, ge=0, le=10000, description="HNSW search breadth of the chunk "
                                           "vector index per question (0: the index's default)")
    retrieval_dense_neighbours: int = Field(100, ge=1, le=1000, description="Nearest chunks the vector index "
                                            "gives the default ranking, each with its mentions read. 64 served "
                                            "8% more questions a second on musique_100 (less CPU in the API and "
                                            "the database) for R@5 0.787 -> 0.777 there and P@8 0.94 -> 0.93 on "
                                            "hotpotqa_100 (README \"Throughput\")")
    api_traced_embedder: bool = Field(True, description="Embed questions with a TorchScript trace of the model "
                                      "(GIL released for the whole forward pass); false = eager")
    api_question_dtype: QuestionDtype = Field("int8", description="Weights of the traced question encoder: "
                                              "int8 (ONNX Runtime's dynamic quantization, one scale per channel; "
                                              "vectors within cosine 0.99 of float32's, half the CPU a question, "
                                              "dev-set quality kept), float32, or bfloat16 (TorchScript only). "
                                              "Documents are always embedded in float32")
    model_cache_dir: Path | None = Field(None, description="Folder for what the API derives from its models at "
                                         "start and keeps between starts (the question encoder's ONNX files, "
                                         "a few seconds each to make); default $XDG_CACHE_HOME/graphrag or "
                                         "~/.cache/graphrag")
    api_question_runtime: QuestionRuntime = Field("onnxruntime", description="What runs the float32 question "
                                                  "encoder: ONNX Runtime (the traced model exported once at start; "
                                                  "vectors within 1e-6 of torch's, 40 % less CPU a question on "
                                                  "an AMD EPYC) or the TorchScript trace itself. int8 always runs "
                                                  "on ONNX Runtime, bfloat16 on TorchScript")
    api_question_batch_wait_ms: float = Field(20.0, ge=0, le=100, description="How long the question embedder "
                                              "waits for other questions in flight to share its forward pass "
                                              "(a question alone waits for nothing; api/batching.py)")
    api_question_batch_min_in_flight: int = Field(4, ge=1, le=1000, description="The question embedder waits "
                                                  "for company only while at least this many questions are in "
                                                  "flight (below it the cores are not saturated: a wait costs latency)")

    # --- HTTP API: exposure, browsers, abuse (docs/api.md "Security") ----------------------------------
    api_unsafe_keyless_on_network: bool = Field(
        False, description="Allow api_keys_required=false on a non-loopback address: anyone who reaches the port "
                           "is admin. Without it such a start is refused")
    api_allowed_hosts: Annotated[list[str] | None, NoDecode] = Field(
        None, description="Host header values accepted (names or addresses, no port; '*' = any), against DNS "
                          "rebinding; unset = loopback names plus api_host, or any host on a wildcard bind with keys")
    api_allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Browser origins (scheme://host[:port]) besides the service's own that "
                                          "may send state-changing requests; others are refused (403)")
    api_public_docs: bool | None = Field(
        None, description="Serve /docs and /openapi.json without a key; unset = only when keys are not required")
    api_public_metrics: bool | None = Field(
        None, description="Serve /metrics without a key; unset = only when keys are not required")
    api_key_cache_s: float = Field(4.0, ge=0, le=5.0, description="How long a verified key is trusted without "
                                   "asking the database again: a revoked key stops working within this time "
                                   "(at most 5 s; 4 leaves room for the lookup and the request itself)")
    api_auth_failures: int = Field(20, ge=1, description="Wrong keys one client address may send per "
                                   "api_auth_failure_window_s before it gets 429 without a database lookup")
    api_auth_failure_window_s: float = Field(60.0, gt=0, description="Window of api_auth_failures")
    api_header_timeout_s: float = Field(10.0, gt=0, description="A connection that has not sent a whole request "
                                        "head within this time (from its opening or its previous response) is closed")
    api_keep_alive_s: float = Field(5.0, gt=0, description="An idle keep-alive connection is closed after this time")
    api_body_timeout_s: float = Field(60.0, gt=0, description="A request body not complete within this time of its "
                                      "head is answered 408 and its connection closed, whatever the key mode "
                                      "(10 MB in 60 s is about 1.4 Mbit/s)")
    api_forwarded_allow_ips: str = Field(
        "127.0.0.1", description="Proxies whose X-Forwarded-For names the client (comma-separated addresses, '*' = "
                                 "any): behind a load balancer the per-client limits must see clients, not the "
                                 "balancer. '*' only where the API port is reachable from the balancer alone")

    # --- ingestion budgets: what one document may cost (docs/faults.md "Budgets") ---------------------
    ingest_max_pages: int = Field(1000, ge=1, description="A PDF with more pages fails (its reason names this cap); "
                                  "the rest of its job goes on")
    ingest_max_chars: int = Field(1_000_000, ge=1, description="A document whose extracted text is longer fails "
                                  "(about 500 pages of prose; chunking, NER and embedding cost grows with it)")
    ingest_max_seconds: float = Field(120.0, gt=0, description="A document whose text extraction takes longer "
                                      "fails (checked between PDF pages)")

    # --- the CLI as a client of a running service (`graphrag ask`, `graphrag search`) ------------------
    api_url: str | None = Field(
        None, description="The running graphrag service that `graphrag ask` and `search` send questions to (they "
                          "load the models themselves only when none answers there); unset = "
                          "http://<api_host>:<api_port>, 127.0.0.1 for a wildcard bind")
    api_key: SecretStr | None = Field(None, description="API key that `graphrag ask` and `search` send to that "
                                                        "service when it requires keys")

    @field_validator("api_url")
    @classmethod
    def _check_api_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not re.match(r"^https?://[^/\s]+(/\S*)?$", value.strip()):
            raise ValueError(f"{value!r} is not a service URL (http[s]://host:port)")
        return value.strip().rstrip("/")

    @property
    def service_url(self) -> str:
        """Where `graphrag ask` and `search` look for a running service (see `api_url`)."""
        if self.api_url:
            return self.api_url
        host = self.api_host.strip()
        host = "127.0.0.1" if host in WILDCARD_HOSTS else host
        return f"http://[{host}]:{self.api_port}" if ":" in host else f"http://{host}:{self.api_port}"

    # --- ingestion engine ---------------------------------------------------------------------------
    ingest_engine: Literal["local", "ray"] = Field(
        "local", description="Where ingestion runs: 'local' (threads in this process) or 'ray' (Ray Data: "
                             "the cluster at ray_address, else a local Ray runtime); API ingest jobs use it too")
    ray_address: str | None = Field(None, description="Ray cluster for the 'ray' engine: its GCS address, e.g. "
                                                      "head:6379 (ray:// needs ray[client], not installed); unset = "
                                                      "a local Ray runtime")
    ray_extract_actors: int = Field(1, ge=1, le=1024, description="Ray engine: NER (spaCy) actors")
    ray_embed_actors: int = Field(1, ge=1, le=1024, description="Ray engine: embedding actors")
    ray_embed_gpus: float | None = Field(None, ge=0, description="Ray engine: GPUs per embedding actor; unset = 1 "
                                                                 "when the cluster has GPUs, else none")
    ray_extract_resources: dict[str, float] | None = Field(
        None, description="Ray engine: custom resources each NER actor needs, as JSON ({\"cpu_node\": 1}): pins the "
                          "stage to the nodes started with them (`ray start --resources`)")
    ray_embed_resources: dict[str, float] | None = Field(
        None, description="Ray engine: custom resources each embedding actor needs, as JSON")
    ray_write_concurrency: int = Field(2, ge=1, le=64, description="Ray engine: write transactions in flight")
    ray_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "WARNING", description="Ray engine: level of Ray's and Ray Data's loggers in the driver (their notices are "
                               "WARNINGs; the CLI sets ERROR unless -v, so a job's own error is its one line)")

    @field_validator("ray_address", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("db_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        value = _name_list(value)
        return value or None  # an empty GRAPHRAG_DB_URLS means unset

    @field_validator("db_urls")
    @classmethod
    def _check_urls(cls, value: list[str] | None) -> list[str] | None:
        for url in value or []:
            if not re.match(r"^https?://[^/\s]+/?$", url):
                raise ValueError(f"{url!r} is not a server URL (http[s]://host:port)")
        return value

    @field_validator("api_allowed_hosts", "api_allowed_origins", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        return _name_list(value)

    @field_validator("api_allowed_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not re.match(r"^https?://[^/\s]+$", origin):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path)")
        return [origin.lower() for origin in value]

    def to_env(self) -> dict[str, str]:
        """`GRAPHRAG_*` variables that rebuild these settings in another process (API workers)."""
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, (list, tuple, dict)):
                text = json.dumps(value)
            else:
                text = str(value)
            env[f"{self.model_config.get('env_prefix', '')}{name.upper()}"] = text
        return env

    @property
    def api_keys_enforced(self) -> bool:
        """Whether requests need a key: explicit setting, else only when reachable beyond loopback."""
        if self.api_keys_required is not None:
            return self.api_keys_required
        return not is_loopback_host(self.api_host)

    @property
    def api_docs_public(self) -> bool:
        """Whether /docs and /openapi.json answer without a key (see `api_public_docs`)."""
        return self.api_public_docs if self.api_public_docs is not None else not self.api_keys_enforced

    @property
    def api_metrics_public(self) -> bool:
        """Whether /metrics answers without a key (see `api_public_metrics`)."""
        return self.api_public_metrics if self.api_public_metrics is not None else not self.api_keys_enforced

    @property
    def api_hosts_accepted(self) -> list[str] | None:
        """Host header names accepted; None = any. Default: the loopback names and the bound address; on a
        wildcard bind with keys required, any (the key is the protection, and the names are not known here)."""
        if self.api_allowed_hosts is not None:
            names = [h.strip().strip("[]").lower() for h in self.api_allowed_hosts]
            return None if "*" in names else names
        if self.api_host.strip() in WILDCARD_HOSTS:
            return None if self.api_keys_enforced else ["localhost", "127.0.0.1", "::1"]
        return list(dict.fromkeys(["localhost", "127.0.0.1", "::1", self.api_host.strip().strip("[]").lower()]))

    # --- answering: whether to answer at all ---
    answer_min_relevance: float = Field(
        0.78, ge=0, description="Below this fit score of the retrieved passages (graphrag.relevance: best dense "
                                "cosine + a quarter for each of names, words and a title of the question found in "
                                "them) nothing in the documents answers the question: answers say so and list the "
                                "closest passages. Calibrated by benchmarks/abstention.py; 0 = always answer")

    # --- answering (LLM): an OpenAI-compatible server (vLLM, llama.cpp's server, Ollama) by URL ---
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible base URL ending in /v1 (e.g. http://vllm:8000/v1); 'local' = the "
                          "`graphrag llm start` server on 127.0.0.1:llm_port; unset = no LLM, extractive answers")
    llm_model: str = Field("local", min_length=1, description="Model name sent to the server (vLLM: the served "
                                                               "model's name); the local server ignores it")
    llm_api_key: SecretStr | None = Field(None, description="Bearer key for the LLM server; unset = none needed")
    llm_timeout_s: float = Field(60.0, gt=0, description="Read timeout of one LLM call (a whole non-streamed "
                                                         "answer, or the gap between two streamed tokens)")
    llm_connect_timeout_s: float = Field(5.0, gt=0, description="Connect timeout of one LLM call")
    llm_retries: int = Field(3, ge=1, le=10, description="Attempts on connection errors, 429 and 5xx")
    llm_cooldown_s: float = Field(30.0, ge=0, description="After the LLM was unreachable, answer extractively "
                                  "at once for this many seconds before trying it again (0 = always try)")
    llm_max_tokens: int = Field(256, ge=1, le=32768, description="Cap on the tokens of one answer")
    llm_temperature: float = Field(0.1, ge=0.0, le=2.0, description="Sampling temperature (low: grounded)")
    llm_context_tokens: int = Field(4096, ge=512, description="The model's context window, in tokens: the "
                                                              "prompt and the answer must fit in it")
    llm_local_model: str = Field("smollm2", pattern=r"^(smollm2|qwen2\.5-1\.5b)$",
                                 description="GGUF model of `graphrag llm start`: 'smollm2' (135M, tests) or "
                                             "'qwen2.5-1.5b' (stronger, 1 GB)")
    llm_port: int = Field(8081, ge=1, le=65535, description="Port of the local llama.cpp server")
    llm_citation_grammar: bool | None = Field(
        None, description="Send llama.cpp's server a grammar that makes each answer end in [n] markers of the "
                          "shown passages (the model still picks which); unset = on for the local server "
                          "('local'), off for any other URL (vLLM/Ollama do not take llama.cpp grammars)")

    @property
    def llm_citation_grammar_on(self) -> bool:
        """Whether answers are asked for under llama.cpp's citation grammar (see `llm_citation_grammar`)."""
        if self.llm_citation_grammar is not None:
            return self.llm_citation_grammar
        return (self.llm_base_url or "").strip().lower() == "local"

    @property
    def llm_url(self) -> str | None:
        """The LLM base URL to call, or None for extractive answers ('local' resolves to our own server)."""
        if self.llm_base_url is None or not self.llm_base_url.strip():
            return None
        if self.llm_base_url.strip().lower() == "local":
            return f"http://127.0.0.1:{self.llm_port}/v1"
        return self.llm_base_url.strip().rstrip("/")
    # --- end answering ---

    @field_validator("db_name")
    @classmethod
    def _check_db_name(cls, value: str) -> str:
        if not _DB_NAME.match(value):
            raise ValueError("must start with a letter and hold only letters, digits and '_'")
        return value

    @field_validator("db_password")
    @classmethod
    def _reject_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in _PLACEHOLDER_SECRETS:
            raise ValueError("is a placeholder; set a real secret or leave it unset for the embedded default")
        return value

    @property
    def embedded(self) -> bool:
        """True when the project runs its own server rather than reaching an existing one."""
        return self.db_url is None and not self.db_urls

    @property
    def url(self) -> str:
        """The (first) server's URL."""
        return self.urls[0]

    @property
    def urls(self) -> list[str]:
        """Every server of the database: db_urls, else db_url, else the embedded server."""
        if self.db_urls:
            return [u.rstrip("/") for u in self.db_urls]
        return [self.db_url.rstrip("/") if self.db_url else f"http://127.0.0.1:{self.db_port}"]

    @property
    def model_cache(self) -> Path:
        """`model_cache_dir`, else the user's cache folder (XDG's, as pip and Hugging Face use)."""
        if self.model_cache_dir is not None:
            return self.model_cache_dir
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "graphrag"

    @property
    def password_file(self) -> Path:
        return self.data_dir / PASSWORD_FILE

    def password(self) -> str:
        """The database password: the configured one, else the embedded server's generated file."""
        if self.db_password is not None:
            return self.db_password.get_secret_value()
        if self.db_password_file is not None:
            try:
                return self.db_password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"cannot read the database password file {self.db_password_file} "
                                  f"(GRAPHRAG_DB_PASSWORD_FILE): {exc.strerror}") from None
        try:
            return self.password_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            if self.embedded:
                raise ConfigError(
                    f"no database password: {self.password_file} does not exist yet; "
                    "run `graphrag db start` first (it generates one)"
                ) from None
            raise ConfigError("no database password: set GRAPHRAG_DB_PASSWORD for the server at "
                              f"{self.url}") from None


def private_dir(path: Path) -> Path:
    """Create `path` (and its parents) if needed and make it owner-only (0700).

    The data folder holds the database files, the generated password, server logs and uploaded
    documents: none of it is for other local users.
    """
    missing = [path, *(p for p in path.parents if not p.exists())] if not path.exists() else []
    for folder in reversed(missing):  # folders this call creates are owner-only from the start
        folder.mkdir(mode=0o700, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def ensure_password_file(path: Path) -> str:
    """Return the embedded server's root password, generating it once with owner-only permissions."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    password = secrets.token_urlsafe(24)
    write_private(path, password, replace=False)  # two processes racing here cannot both write
    return password


def write_private(path: Path, text: str, *, replace: bool = True) -> None:
    """Write `text` to a new owner-only file (0600 from the first byte, not chmod after).

    With `replace`, an existing file is removed first; either way the file is created with O_EXCL,
    so nothing is ever written into a file (or through a link) that someone else prepared.
    """
    private_dir(path.parent)
    if replace:
        path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings from the environment; tests build their own `Settings` instead."""
    return Settings()
