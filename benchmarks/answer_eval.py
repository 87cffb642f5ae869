"""Answer quality: exact match and token F1 (SQuAD normalisation) against the eval sets' `answers`.

Runs the configured `Answerer` (the LLM at GRAPHRAG_LLM_BASE_URL, or extractive with --extractive)
on a seeded sample of questions and prints/writes JSON tagged with the commit and the data set.

Passages: until the project's retriever is merged, each question gets its gold passages plus the
corpus passages nearest to it by MiniLM cosine (distractors), all ranked by that cosine. This is
an oracle-assisted retrieval: the numbers measure the answerer given the evidence, not the whole
pipeline. Say so next to any number from it.

    HF_HUB_OFFLINE=1 GRAPHRAG_LLM_BASE_URL=local python -m benchmarks.answer_eval --dataset hotpotqa_100 --limit 20
    HF_HUB_OFFLINE=1 python -m benchmarks.answer_eval --dataset hotpotqa_100 --limit 20 --extractive
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import re
import string
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from graphrag.answer import EXTRACTIVE_PREFIX, Answerer
from graphrag.config import Settings
from graphrag.embeddings import SentenceTransformerEmbedder
from graphrag.extractive import EmbeddingScorer, LexicalScorer
from graphrag.llm import LLMClient
from graphrag.types import Passage, RetrievalResult

EVAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "eval"
DEFAULT_EVAL_DIR = Path("/work/shared/eval")
RESULTS = Path(__file__).resolve().parent / "results"
_MARKERS = re.compile(r"\s*\[\s*\d+\s*(?:[-–,;]\s*\d+\s*)*\]")
_PREFIX = re.compile(rf"^{re.escape(EXTRACTIVE_PREFIX)} \([^)]*\):\s*")


# --- SQuAD answer normalisation and metrics ---------------------------------------------------------


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation and articles, collapse white space (the SQuAD evaluation script)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = Counter(pred) & Counter(ref)
    same = sum(common.values())
    if not pred or not ref:
        return float(pred == ref)
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def contains(prediction: str, gold: str) -> float:
    """Whether the normalised gold answer occurs in the normalised prediction (fair to sentence answers)."""
    g = normalize_answer(gold)
    return float(bool(g) and f" {g} " in f" {normalize_answer(prediction)} ")


def answer_body(text: str) -> str:
    """The answer as scored: without the extractive preamble and without citation markers."""
    return _MARKERS.sub("", _PREFIX.sub("", text)).strip()


# --- data ---------------------------------------------------------------------------------------------


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def corpus_vectors(embedder: SentenceTransformerEmbedder, corpus: list[dict[str, Any]], cache: Path) -> np.ndarray:
    texts = [f"{p['title']}: {p['text']}" for p in corpus]
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = cache / f"corpus-{key}.npy"
    if path.exists():
        return np.load(path)
    vectors = embedder.embed(texts)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def gold_plus_distractors(question: dict[str, Any], corpus: list[dict[str, Any]], vectors: np.ndarray,
                          q_vector: np.ndarray, total: int) -> RetrievalResult:
    """The gold passages (the best-scoring one per supporting title) and the nearest others, by cosine."""
    scores = vectors @ q_vector
    gold_titles = set(question["supporting_titles"])
    best_gold: dict[str, int] = {}
    for i, p in enumerate(corpus):
        if p["title"] in gold_titles and (p["title"] not in best_gold or scores[i] > scores[best_gold[p["title"]]]):
            best_gold[p["title"]] = i
    chosen = set(best_gold.values())
    for i in np.argsort(-scores):
        if len(chosen) >= total:
            break
        if corpus[int(i)]["title"] not in gold_titles:
            chosen.add(int(i))
    ranked = sorted(chosen, key=lambda i: -scores[i])
    passages = [Passage(chunk_id=corpus[i]["id"], document_id=corpus[i]["id"], title=corpus[i]["title"],
                        text=corpus[i]["text"], score=float(scores[i]),
                        channels=["gold" if i in best_gold.values() else "dense"]) for i in ranked]
    return RetrievalResult(question=question["question"], passages=passages)


# --- run ------------------------------------------------------------------------------------------------


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


async def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings()
    eval_dir = Path(args.eval_dir)
    corpus = load_jsonl(eval_dir / args.dataset / "corpus.jsonl")
    questions = load_jsonl(eval_dir / args.dataset / "questions.jsonl")
    sample = random.Random(args.seed).sample(questions, min(args.limit, len(questions)))

    embedder = SentenceTransformerEmbedder(settings.embedding_model)
    vectors = corpus_vectors(embedder, corpus, Path(settings.data_dir) / "eval-cache")
    q_vectors = embedder.embed([q["question"] for q in sample])
    llm = None if args.extractive else LLMClient.from_settings(settings)
    if llm is None and not args.extractive:
        sys.exit("no LLM configured (GRAPHRAG_LLM_BASE_URL); pass --extractive to measure the extractive mode")
    scorer = EmbeddingScorer(embedder) if args.scorer == "embedding" else LexicalScorer()
    answerer = Answerer(llm, scorer=scorer, context_tokens=settings.llm_context_tokens,
                        max_tokens=settings.llm_max_tokens, temperature=settings.llm_temperature)

    rows: list[dict[str, Any]] = []
    latencies: list[float] = []
    modes: Counter[str] = Counter()
    try:
        for question, q_vector in zip(sample, q_vectors, strict=True):
            result = gold_plus_distractors(question, corpus, vectors, q_vector, args.passages)
            start = time.perf_counter()
            answer = await answerer.answer(result)
            latencies.append((time.perf_counter() - start) * 1000)
            modes[answer.mode] += 1
            body = answer_body(answer.answer)
            golds = question["answers"]
            cited_titles = [c.title for c in answer.citations]
            rows.append({
                "id": question["id"], "question": question["question"], "answers": golds, "mode": answer.mode,
                "answer": answer.answer,
                "em": max(exact_match(body, g) for g in golds),
                "f1": max(token_f1(body, g) for g in golds),
                "contains": max(contains(body, g) for g in golds),
                "cited": len(cited_titles),
                "cited_gold": sum(t in question["supporting_titles"] for t in cited_titles),
                "removed_markers": answer.removed_markers,
            })
            if args.verbose:
                print(f"[{rows[-1]['f1']:.2f}] {question['question']}\n   gold: {golds[0]}\n   got:  {answer.answer}",
                      file=sys.stderr)
    finally:
        await answerer.aclose()

    cited = sum(r["cited"] for r in rows)
    return {
        "dataset": args.dataset, "commit": _commit(), "questions": len(rows), "seed": args.seed,
        "answerer": "extractive" if args.extractive else f"llm:{settings.llm_model}@{settings.llm_url}",
        "scorer": scorer.name, "passages_per_question": args.passages,
        "retrieval": "gold passages + nearest MiniLM distractors (oracle-assisted, not the project's retriever)",
        "context_tokens": settings.llm_context_tokens, "max_tokens": settings.llm_max_tokens,
        "modes": dict(modes),
        "exact_match": round(float(np.mean([r["em"] for r in rows])), 3),
        "token_f1": round(float(np.mean([r["f1"] for r in rows])), 3),
        "answer_contained": round(float(np.mean([r["contains"] for r in rows])), 3),
        "citations_per_answer": round(cited / max(len(rows), 1), 2),
        "cited_gold_share": round(sum(r["cited_gold"] for r in rows) / cited, 3) if cited else None,
        "removed_markers": sum(len(r["removed_markers"]) for r in rows),
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 1),
        "latency_ms_p95": round(float(np.percentile(latencies, 95)), 1),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="hotpotqa_100", help="a folder of the eval directory")
    parser.add_argument("--eval-dir", default=str(EVAL_DIR if EVAL_DIR.is_dir() else DEFAULT_EVAL_DIR))
    parser.add_argument("--limit", type=int, default=20, help="questions in the seeded sample")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--passages", type=int, default=8, help="passages per question (gold + distractors)")
    parser.add_argument("--extractive", action="store_true", help="no LLM: measure the extractive answers")
    parser.add_argument("--scorer", choices=["lexical", "embedding"], default="lexical",
                        help="sentence scorer of the extractive mode (also used when the LLM fails)")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default benchmarks/results/...)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every question and answer")
    args = parser.parse_args()

    report = asyncio.run(evaluate(args))
    label = "extractive-" + args.scorer if args.extractive else "llm"
    out = args.out or RESULTS / f"answer_eval_{args.dataset}_{label}_{report['commit']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    summary = {k: v for k, v in report.items() if k != "rows"}
    print(json.dumps(summary, indent=2))
    print(f"written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
