"""The Ray extraction actor's chunker counts with the model's tokenizer alone (`WordPieceCounter`): its
counts, window and chunks must be the embedder's, or the two engines would cut documents differently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graphrag.embeddings import SentenceTransformerEmbedder, WordPieceCounter
from ingestion.pipeline import IngestionConfig
from ingestion.steps import make_chunker

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _texts() -> list[str]:
    corpus = [json.loads(line)["text"] for line in (ROOT / "tests/data/musique_40.jsonl").read_text().splitlines()]
    sample = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "api/sample_corpus").glob("*.md"))]
    odd = ["", "Zoë Saldaña and Jürgen Müller", "東京タワー and the 🗼 emoji", "naïve café Ångström", "a " * 700]
    return corpus + sample + odd


def test_the_tokenizer_alone_counts_and_chunks_as_the_embedder_does(embedder: SentenceTransformerEmbedder) -> None:
    pieces = WordPieceCounter.for_model()
    assert isinstance(pieces, WordPieceCounter)  # the packaged model's config names its window
    assert pieces.max_tokens == embedder.max_tokens == 256
    texts = _texts()
    counted = pieces.token_counter()(texts)
    assert counted == embedder.token_counter()(texts)
    assert max(counted) > 256 and counted[len(texts) - 5] == 2  # long texts counted whole; "" is [CLS] [SEP]
    config = IngestionConfig()
    for text in texts[:40]:
        assert make_chunker(pieces, config).chunk(text) == make_chunker(embedder, config).chunk(text)


def test_a_model_folder_without_a_window_in_its_config_loads_the_embedder(tmp_path: Path) -> None:
    from graphrag.embeddings import resolve_model_path

    folder = tmp_path / "model"
    folder.mkdir()
    for item in resolve_model_path("all-MiniLM-L6-v2").iterdir():
        (folder / item.name).symlink_to(item)
    (folder / "sentence_bert_config.json").unlink()
    (folder / "sentence_bert_config.json").write_text(json.dumps({"do_lower_case": False}))
    assert isinstance(WordPieceCounter.for_model(str(folder)), SentenceTransformerEmbedder)
