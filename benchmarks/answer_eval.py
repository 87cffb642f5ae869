"""Answer quality: exact match and token F1 (SQuAD normalisation) against the eval sets' `answers`.

Runs the configured `Answerer` (the LLM at GRAPHRAG_LLM_BASE_URL, or extractive with --extractive)
on a seeded sample of questions and prints/writes JSON tagged with the commit and the data set.

Two ways to get the passages:

- oracle (default): each question gets its gold passages plus the corpus passages nearest to it
  by MiniLM cosine (distractors), all ranked by that cosine. This is an oracle-assisted retrieval:
  the numbers measure the answerer given the evidence, not the whole pipeline. Say so next to
  any number from it.
- end to end (`--retriever DB_DIR`): the project's `HybridRetriever` (default `RetrievalConfig`)
  over a database that `benchmarks/eval.py DIR --db-dir DB_DIR` ingested; the server is started
  on that folder with eval.py's own helper (it writes into the folder: point it at a copy you
  may change). The numbers measure retriever + answerer, as the API runs them.

    HF_HUB_OFFLINE=1 GRAPHRAG_LLM_BASE_URL=local python -m benchmarks.answer_eval --dataset hotpotqa_100 --limit 20
    HF_HUB_OFFLINE=1 GRAPHRAG_LLM_BASE_URL=local python -m benchmarks.answer_eval --limit 10 --stream  # SSE path

Citation rate: `citation_rate` = share of answers with at least one valid ``[n]``,
`gold_citation_rate` = share citing at least one gold passage, both also over the LLM's own
answers only (`llm_*`: extractive fallbacks always cite); `example_echoes` = answers that copy the
prompt's worked example.
    HF_HUB_OFFLINE=1 python -m benchmarks.answer_eval --dataset hotpotqa_100 --limit 20 --extractive
    HF_HUB_OFFLINE=1 python -m benchmarks.answer_eval --dataset musique_100 --extractive --retriever /tmp/db/musique
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import re
import string
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._meta import SHARED_EVAL, git_commit, read_jsonl, relative
from graphrag.answer import EXTRACTIVE_PREFIX, Answerer, FinalEvent, TokenEvent
from graphrag.config import Settings
from graphrag.embeddings import SentenceTransformerEmbedder
from graphrag.extractive import EmbeddingScorer, HybridScorer, LexicalScorer, SentenceScorer
from graphrag.llm import LLMClient
from graphrag.prompts import echoes_example
from graphrag.types import Answer, Passage, RetrievalResult

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



Retrieve = Callable[[dict[str, Any]], RetrievalResult]


def oracle_retrieval(embedder: SentenceTransformerEmbedder, corpus: list[dict[str, Any]],
                     sample: list[dict[str, Any]], cache: Path, total: int) -> Retrieve:
    """Gold passages + nearest distractors per question (the oracle-assisted mode)."""
    vectors = corpus_vectors(embedder, corpus, cache)
    q_vectors = dict(zip((q["id"] for q in sample), embedder.embed([q["question"] for q in sample]), strict=True))
    return lambda question: gold_plus_distractors(question, corpus, vectors, q_vectors[question["id"]], total)


@asynccontextmanager
async def project_retrieval(db_dir: Path, dataset: str, embedder: SentenceTransformerEmbedder,
                            corpus_size: int, top_k: int) -> AsyncIterator[Retrieve]:
    """The project's `HybridRetriever` over a database ingested by benchmarks/eval.py (end-to-end mode).

    The server and database naming come from eval.py itself, so a folder it ingested with
    `--db-dir` opens here unchanged. Pending schema migrations are applied first (they only add
    types, e.g. v3's API job/key types, which a database ingested before them lacks; another
    reason to point this at a copy). A database with fewer documents than the corpus (an
    interrupted ingestion) is refused rather than measured.
    """
    from benchmarks.eval import eval_database, stored_documents  # starts nothing until called
    from graphrag.nlp import load_spacy
    from graphrag.retrieval import HybridRetriever
    from schema.runner import MigrationRunner

    if not db_dir.is_dir():
        sys.exit(f"no ingested database folder at {db_dir} (run benchmarks/eval.py DIR --db-dir {db_dir})")
    with eval_database(db_dir.resolve(), dataset) as (db, settings):
        runner = MigrationRunner(db, embedding_dim=settings.embedding_dim)
        runner.migrate()
        stored = stored_documents(db, runner)
        if stored != corpus_size:
            sys.exit(f"{db_dir} holds {stored} of {corpus_size} {dataset} documents: ingest it first "
                     f"(benchmarks/eval.py DIR --db-dir {db_dir} --reuse)")
        retriever = HybridRetriever(db, embedder, nlp=load_spacy())
        yield lambda question: retriever.retrieve(question["question"], top_k=top_k)


async def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings()
    eval_dir = Path(args.eval_dir)
    corpus = read_jsonl(eval_dir / args.dataset / "corpus.jsonl")
    questions = read_jsonl(eval_dir / args.dataset / "questions.jsonl")
    sample = random.Random(args.seed).sample(questions, min(args.limit, len(questions)))

    embedder = SentenceTransformerEmbedder(settings.embedding_model)
    if args.retriever:
        async with project_retrieval(args.retriever, args.dataset, embedder, len(corpus), args.passages) as retrieve:
            import torch

            torch.set_num_threads(1)  # as benchmarks/eval.py: one short question gains nothing from more
            return await run_questions(args, settings, embedder, sample, retrieve)
    retrieve = oracle_retrieval(embedder, corpus, sample, Path(settings.data_dir) / "eval-cache", args.passages)
    return await run_questions(args, settings, embedder, sample, retrieve)


async def streamed_answer(answerer: Answerer, result: RetrievalResult, start: float) -> tuple[Answer, float]:
    """The answer as `Answerer.stream` gives it (what the API's SSE route sends), and ms to its first token.

    The streamed tokens must concatenate to the final answer's text; a stream that breaks
    (`ErrorEvent`) stops the run, since it has no answer to score.
    """
    first_ms: float | None = None
    parts: list[str] = []
    async for event in answerer.stream(result):
        if isinstance(event, TokenEvent):
            if first_ms is None:
                first_ms = (time.perf_counter() - start) * 1000
            parts.append(event.text)
        elif isinstance(event, FinalEvent):
            if "".join(parts) != event.answer.answer:
                sys.exit(f"streamed tokens differ from the final answer for {result.question!r}")
            return event.answer, first_ms if first_ms is not None else 0.0
        else:
            sys.exit(f"the stream broke for {result.question!r}: {event.message}")
    sys.exit(f"the stream ended without a final answer for {result.question!r}")


async def run_questions(args: argparse.Namespace, settings: Settings, embedder: SentenceTransformerEmbedder,
                        sample: list[dict[str, Any]], retrieve: Retrieve) -> dict[str, Any]:
    """Retrieve and answer every sampled question; score the answers (and the retrieval's gold recall)."""
    llm = None if args.extractive else LLMClient.from_settings(settings)
    if llm is None and not args.extractive:
        sys.exit("no LLM configured (GRAPHRAG_LLM_BASE_URL); pass --extractive to measure the extractive mode")
    scorers: dict[str, SentenceScorer] = {"lexical": LexicalScorer(), "embedding": EmbeddingScorer(embedder),
                                          "hybrid": HybridScorer(embedder)}
    scorer = scorers[args.scorer]
    answerer = Answerer(llm, scorer=scorer, context_tokens=settings.llm_context_tokens,
                        max_tokens=settings.llm_max_tokens, temperature=settings.llm_temperature,
                        citation_grammar=settings.llm_citation_grammar_on and llm is not None)

    rows: list[dict[str, Any]] = []
    latencies: list[float] = []
    first_token_ms: list[float] = []
    retrieval_ms: list[float] = []
    modes: Counter[str] = Counter()
    try:
        for question in sample:
            start = time.perf_counter()
            result = retrieve(question)
            retrieval_ms.append((time.perf_counter() - start) * 1000)
            gold_titles = set(question["supporting_titles"])
            found = gold_titles & {p.title for p in result.passages}
            start = time.perf_counter()
            if args.stream:
                answer, first_ms = await streamed_answer(answerer, result, start)
                first_token_ms.append(first_ms)
            else:
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
                "gold_retrieved": len(found) / len(gold_titles) if gold_titles else 0.0,
                "removed_markers": answer.removed_markers,
                "echoes_example": echoes_example(answer.answer, answerer.context_for(result)),
            })
            if args.verbose:
                print(f"[{rows[-1]['f1']:.2f}] {question['question']}\n   gold: {golds[0]}\n   got:  {answer.answer}",
                      file=sys.stderr)
    finally:
        await answerer.aclose()

    cited = sum(r["cited"] for r in rows)
    llm_rows = [r for r in rows if r["mode"] == "llm"]
    return {
        "dataset": args.dataset, "commit": git_commit(), "questions": len(rows), "seed": args.seed,
        "answerer": "extractive" if args.extractive else f"llm:{settings.llm_model}@{settings.llm_url}",
        "citation_grammar": answerer.citation_grammar,
        "scorer": scorer.name, "passages_per_question": args.passages,
        "retrieval": (f"project HybridRetriever (default RetrievalConfig) over {relative(args.retriever)}"
                      if args.retriever
                      else "gold passages + nearest MiniLM distractors (oracle-assisted, not the project's retriever)"),
        "gold_titles_retrieved": round(float(np.mean([r["gold_retrieved"] for r in rows])), 3),
        "context_tokens": settings.llm_context_tokens, "max_tokens": settings.llm_max_tokens,
        "modes": dict(modes),
        "exact_match": round(float(np.mean([r["em"] for r in rows])), 3),
        "token_f1": round(float(np.mean([r["f1"] for r in rows])), 3),
        "answer_contained": round(float(np.mean([r["contains"] for r in rows])), 3),
        "citations_per_answer": round(cited / max(len(rows), 1), 2),
        "cited_gold_share": round(sum(r["cited_gold"] for r in rows) / cited, 3) if cited else None,
        # The citation rate: answers with at least one valid [n] (after the check), and answers
        # citing at least one gold passage; also over the LLM's own answers only (extractive
        # answers always cite, so a fallback would flatter the overall rate).
        "citation_rate": _share(rows, lambda r: r["cited"] > 0),
        "gold_citation_rate": _share(rows, lambda r: r["cited_gold"] > 0),
        "llm_citation_rate": _share(llm_rows, lambda r: r["cited"] > 0),
        "llm_gold_citation_rate": _share(llm_rows, lambda r: r["cited_gold"] > 0),
        "removed_markers": sum(len(r["removed_markers"]) for r in rows),
        "example_echoes": sum(r["echoes_example"] for r in rows),  # answers copying the prompt's worked example
        "retrieval_ms_p50": round(float(np.percentile(retrieval_ms, 50)), 1),
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 1),
        "latency_ms_p95": round(float(np.percentile(latencies, 95)), 1),
        "streamed": args.stream,
        "first_token_ms_p50": round(float(np.percentile(first_token_ms, 50)), 1) if first_token_ms else None,
        "rows": rows,
    }


def _share(rows: list[dict[str, Any]], test: Callable[[dict[str, Any]], bool]) -> float | None:
    """The share of `rows` passing `test` (None for no rows)."""
    return round(sum(map(test, rows)) / len(rows), 3) if rows else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="hotpotqa_100", help="a folder of the eval directory")
    parser.add_argument("--eval-dir", default=str(SHARED_EVAL), help="folder of the evaluation sets")
    parser.add_argument("--limit", type=int, default=20, help="questions in the seeded sample")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--passages", type=int, default=8,
                        help="passages per question (oracle: gold + distractors; --retriever: its top_k)")
    parser.add_argument("--retriever", type=Path, default=None, metavar="DB_DIR",
                        help="end to end: the project's retriever over a folder benchmarks/eval.py ingested "
                             "with --db-dir (a copy: the server writes into it)")
    parser.add_argument("--extractive", action="store_true", help="no LLM: measure the extractive answers")
    parser.add_argument("--scorer", choices=["lexical", "embedding", "hybrid"], default="lexical",
                        help="sentence scorer of the extractive mode (also used when the LLM fails)")
    parser.add_argument("--stream", action="store_true",
                        help="answer through Answerer.stream (as the API's SSE route) and time the first token")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default benchmarks/results/...)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every question and answer")
    args = parser.parse_args()

    report = asyncio.run(evaluate(args))
    label = ("extractive-" + args.scorer if args.extractive else "llm") \
        + ("-grammar" if report["citation_grammar"] else "") + ("-stream" if args.stream else "") \
        + ("-e2e" if args.retriever else "")
    out = args.out or RESULTS / f"answer_eval_{args.dataset}_{label}_{report['commit']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    summary = {k: v for k, v in report.items() if k != "rows"}
    print(json.dumps(summary, indent=2))
    print(f"written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
