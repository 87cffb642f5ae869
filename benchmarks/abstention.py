"""Abstention: how often answers say "nothing in the documents answers this" when that is true, and when not.

    python benchmarks/abstention.py --set musique_100=MQ_DB --set hotpotqa_100=HQ_DB \\
        --json benchmarks/measured/abstention.json

Each DB is a folder that `benchmarks/eval.py ../shared/eval/SET --db-dir DB` ingested (the server
is started on it and writes into it: name copies). Every set's questions are asked of its own
database (real questions: an abstention there is false) and of every other set's database (the
unanswerable set: an abstention there is correct; a question whose gold titles the other corpus
holds would not be unanswerable and is left out, the count says how many). Retrieval is the
project's `HybridRetriever` with the default `RetrievalConfig` at `--top-k` (the API's default, 5),
and the score is the retriever's own judgement (`RetrievalResult.relevance`, by
`graphrag.relevance.judge`), the one the service compares with `answer_min_relevance`.

The threshold is calibrated by one rule: `low` is the smallest threshold at which every
unanswerable set reaches `--target-correct` correct abstention, `high` the largest at which every
real set stays at or under `--target-false` false abstention; the threshold is halfway between
(the widest margin on both sides), or `high` when they cross (false abstention comes first). The
rates are reported at that threshold and at the configured one (`answer_min_relevance`), in
sample, and over 2-fold splits (the rule applied to one half of every set, the rates read on the
other, 20 seeded splits): how much the in-sample rates flatter. The dense cosine alone (the
signal's first part) is calibrated by the same rule, to show what the lexical parts add.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, run as a script

from benchmarks._meta import SHARED_EVAL, git_commit, percentile, read_jsonl, recorded_command, relative
from benchmarks.eval import eval_database, stored_documents
from graphrag.config import Settings
from graphrag.embeddings import SentenceTransformerEmbedder

Row = dict[str, Any]
Score = Callable[[Row], float]
SPLITS = 20


def ask_all(dataset: str, db_dir: Path, questions: dict[str, list[Row]], corpus_titles: set[str],
            embedder: SentenceTransformerEmbedder, top_k: int) -> list[Row]:
    """Every set's questions retrieved from `dataset`'s database; one row per question with its judgement."""
    from graphrag.nlp import load_spacy
    from graphrag.retrieval import HybridRetriever
    from schema.runner import MigrationRunner

    rows: list[Row] = []
    with eval_database(db_dir.resolve(), dataset) as (db, settings):
        runner = MigrationRunner(db, embedding_dim=settings.embedding_dim)
        runner.migrate()
        if stored_documents(db, runner) == 0:
            sys.exit(f"{db_dir} holds no {dataset} documents: ingest it with benchmarks/eval.py --db-dir")
        retriever = HybridRetriever(db, embedder, nlp=load_spacy())
        for asked_set, items in questions.items():
            own = asked_set == dataset
            for q in items:
                if not own and set(q["supporting_titles"]) & corpus_titles:
                    continue  # the other corpus may answer it: not an unanswerable question
                started = time.perf_counter()
                result = retriever.retrieve(q["question"], top_k=top_k)
                elapsed = (time.perf_counter() - started) * 1000
                judged = result.relevance
                if judged is None:
                    sys.exit("the retriever did not judge its passages (graphrag.relevance)")
                rows.append({"db": dataset, "questions": asked_set, "answerable": own, "id": q["id"],
                             "question": q["question"], "score": judged.score, "similarity": judged.similarity,
                             "names": judged.names, "words": judged.words, "titled": judged.titled,
                             "gold_retrieved": len(set(q["supporting_titles"]) & {p.title for p in result.passages}),
                             "retrieve_ms": round(elapsed, 1)})
            print(f"{dataset} database, {asked_set} questions: done", file=sys.stderr, flush=True)
    return rows


def groups(rows: list[Row]) -> dict[str, list[Row]]:
    """Rows by (questions, database): 'musique_100 on musique_100' (real), 'musique_100 on hotpotqa_100'."""
    out: dict[str, list[Row]] = {}
    for row in rows:
        out.setdefault(f"{row['questions']} on {row['db']}", []).append(row)
    return out


def abstains(row: Row, score: Score, threshold: float) -> bool:
    return score(row) < threshold


def rates(rows: list[Row], score: Score, threshold: float) -> dict[str, float]:
    """Per group: the false abstention rate (real questions) or the correct abstention rate (unanswerable)."""
    out = {}
    for name, items in groups(rows).items():
        share = sum(abstains(r, score, threshold) for r in items) / len(items)
        out[("false_abstention " if items[0]["answerable"] else "correct_abstention ") + name] = round(share, 3)
    return out


def calibrate(rows: list[Row], score: Score, target_false: float, target_correct: float) -> dict[str, Any]:
    """The rule of the module docstring, over thresholds in steps of 0.01."""
    grid = [i / 100 for i in range(0, 301)]
    by_group = groups(rows)
    real = [g for g in by_group.values() if g[0]["answerable"]]
    unanswerable = [g for g in by_group.values() if not g[0]["answerable"]]

    def worst_false(t: float) -> float:
        return max(sum(abstains(r, score, t) for r in g) / len(g) for g in real)

    def worst_correct(t: float) -> float:
        return min(sum(abstains(r, score, t) for r in g) / len(g) for g in unanswerable)

    high = max((t for t in grid if worst_false(t) <= target_false), default=0.0)
    low = min((t for t in grid if worst_correct(t) >= target_correct), default=grid[-1])
    threshold = round((low + high) / 2, 2) if low <= high else high
    return {"threshold": threshold, "low": low, "high": high, "targets_met": low <= high}


def cross_validated(rows: list[Row], score: Score, target_false: float, target_correct: float) -> dict[str, Any]:
    """Mean rates on held-out halves, each threshold calibrated on the other half of every group."""
    sums: dict[str, float] = {}
    thresholds = []
    for seed in range(SPLITS):
        rng = random.Random(seed)
        halves: tuple[list[Row], list[Row]] = ([], [])
        for items in groups(rows).values():
            shuffled = items[:]
            rng.shuffle(shuffled)
            halves[0].extend(shuffled[0::2])
            halves[1].extend(shuffled[1::2])
        for fit, held in (halves, halves[::-1]):
            threshold = calibrate(fit, score, target_false, target_correct)["threshold"]
            thresholds.append(threshold)
            for key, value in rates(held, score, threshold).items():
                sums[key] = sums.get(key, 0.0) + value
    runs = 2 * SPLITS
    return {"splits": runs, "threshold_range": [min(thresholds), max(thresholds)],
            **{key: round(total / runs, 3) for key, total in sums.items()}}


def summary(rows: list[Row], score: Score, args: argparse.Namespace, configured: float | None = None
            ) -> dict[str, Any]:
    fitted = calibrate(rows, score, args.target_false, args.target_correct)
    out = {"calibration": fitted, "at_calibrated": rates(rows, score, fitted["threshold"])}
    if configured is not None:
        out["at_configured"] = {"threshold": configured, **rates(rows, score, configured)}
    out["cross_validated"] = cross_validated(rows, score, args.target_false, args.target_correct)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", required=True, metavar="NAME=DB_DIR",
                        help="an evaluation set and the folder benchmarks/eval.py ingested it into (two or more)")
    parser.add_argument("--eval-dir", type=Path, default=SHARED_EVAL, help="folder of the evaluation sets")
    parser.add_argument("--top-k", type=int, default=5, help="passages retrieved (the API's default)")
    parser.add_argument("--target-false", type=float, default=0.05, help="most false abstention on real questions")
    parser.add_argument("--target-correct", type=float, default=0.9, help="least correct abstention on the others")
    parser.add_argument("--json", type=Path, help="write the result (and every question's score) here")
    args = parser.parse_args(argv)
    sets = dict(pair.split("=", 1) for pair in args.set)
    if len(sets) < 2:
        parser.error("name two sets or more: each set's questions are asked of the others' corpora")
    questions = {name: read_jsonl(args.eval_dir / name / "questions.jsonl") for name in sets}
    titles = {name: {p["title"] for p in read_jsonl(args.eval_dir / name / "corpus.jsonl")} for name in sets}
    settings = Settings()
    embedder = SentenceTransformerEmbedder(settings.embedding_model)
    import torch

    torch.set_num_threads(1)  # as benchmarks/eval.py: one short question gains nothing from more
    rows = [row for name, db_dir in sets.items()
            for row in ask_all(name, Path(db_dir), questions, titles[name], embedder, args.top_k)]
    left_out = {f"{asked} on {name}": len(questions[asked]) - sum(1 for r in rows if r["questions"] == asked
                                                                    and r["db"] == name)
                for name in sets for asked in sets if asked != name}

    def relevance(row: Row) -> float:
        return float(row["score"]) if row["score"] is not None else float("inf")  # unmeasured: never abstains

    def cosine(row: Row) -> float:
        return float(row["similarity"]) if row["similarity"] is not None else float("inf")

    out: dict[str, Any] = {
        "commit": git_commit(), "command": recorded_command(sys.argv[0], argv if argv is not None else sys.argv[1:]),
        "sets": {name: relative(Path(args.eval_dir) / name) for name in sets}, "top_k": args.top_k,
        "targets": {"false_abstention_at_most": args.target_false, "correct_abstention_at_least": args.target_correct},
        "questions": {name: len(items) for name, items in groups(rows).items()},
        "left_out_answerable_elsewhere": left_out,
        "unmeasured": sum(r["score"] is None for r in rows),
        "retrieve_ms_p50": round(percentile([r["retrieve_ms"] for r in rows], 0.5), 1),
        "relevance": summary(rows, relevance, args, settings.answer_min_relevance),
        "cosine_alone": summary(rows, cosine, args),
    }
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps({**out, "rows": rows}, indent=1))
        print(f"written to {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
