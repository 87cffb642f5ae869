"""What the chaos tests share: a whole-graph snapshot and its comparison, running `graphrag ingest`
as a subprocess, killing processes, and the table of trials.

A snapshot holds every fact of the graph model a fault could break: the counts per type, each
document's id and content hash, each chunk id, each entity's key with its name, type, kept
mention count, whether it has a vector and was linked, and every edge with its properties
(HAS_CHUNK, NEXT, MENTIONS with count and co-occurrence list, SAME_AS with similarity). Edges are
kept as sorted lists, not sets, so a duplicated edge is a difference too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphrag.arcadedb import ArcadeDB
from graphrag.store import GraphStore

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "chaos"
SIMILARITY_TOLERANCE = 1e-4  # SAME_AS similarity: the in-memory and the index lookup differ in float rounding


@dataclass
class Snapshot:
    counts: dict[str, int]
    documents: dict[str, str]  # id -> content hash
    chunks: list[str]
    entities: dict[str, tuple[Any, ...]]  # key -> (name, type, mentions, has vector, linked)
    has_chunk: list[tuple[str, str]]
    next: list[tuple[str, str]]
    mentions: list[tuple[str, str, int, tuple[str, ...]]]
    same_as: list[tuple[str, str, float]]


def snapshot(db: ArcadeDB) -> Snapshot:
    """Everything the comparison looks at, read in full (small graphs only)."""
    counts = GraphStore(db).counts()
    docs = db.cypher("MATCH (d:Document) RETURN d.id AS id, d.content_hash AS h")
    chunks = db.cypher("MATCH (c:Chunk) RETURN c.id AS id")
    entities = db.cypher("MATCH (e:Entity) RETURN e.key AS k, e.name AS name, e.type AS type, e.mentions AS m, "
                         "e.embedding IS NOT NULL AS vec, e.linked AS linked")
    has_chunk = db.cypher("MATCH (d:Document)-[:HAS_CHUNK]->(c:Chunk) RETURN d.id AS a, c.id AS b")
    nexts = db.cypher("MATCH (a:Chunk)-[:NEXT]->(b:Chunk) RETURN a.id AS a, b.id AS b")
    mentions = db.cypher("MATCH (c:Chunk)-[m:MENTIONS]->(e:Entity) RETURN c.id AS c, e.key AS k, "
                         "m.count AS n, m.cooc AS cooc")
    same_as = db.cypher("MATCH (a:Entity)-[s:SAME_AS]->(b:Entity) RETURN a.key AS a, b.key AS b, "
                        "s.similarity AS s")
    return Snapshot(
        counts=counts,
        documents={r["id"]: r["h"] for r in docs},
        chunks=sorted(r["id"] for r in chunks),
        entities={r["k"]: (r["name"], r["type"], r["m"], bool(r["vec"]), bool(r["linked"])) for r in entities},
        has_chunk=sorted((r["a"], r["b"]) for r in has_chunk),
        next=sorted((r["a"], r["b"]) for r in nexts),
        mentions=sorted((r["c"], r["k"], int(r["n"]), tuple(sorted(r["cooc"] or []))) for r in mentions),
        same_as=sorted((r["a"], r["b"], float(r["s"])) for r in same_as),
    )


def _list_diff(name: str, got: list[Any], want: list[Any]) -> list[str]:
    if got == want:
        return []
    extra = sorted(set(got) - set(want))
    missing = sorted(set(want) - set(got))
    dupes = len(got) - len(set(got))
    parts = [f"{name}: {len(got)} vs {len(want)} in the clean run"]
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {missing[:2]})")
    if extra:
        parts.append(f"{len(extra)} extra (e.g. {extra[:2]})")
    if dupes:
        parts.append(f"{dupes} duplicated")
    return ["; ".join(parts)]


def differences(got: Snapshot, want: Snapshot) -> list[str]:
    """What differs, one line per field (empty: the graphs are equal)."""
    out: list[str] = []
    if got.counts != want.counts:
        out.append("counts: " + ", ".join(f"{k} {got.counts.get(k)} vs {v}" for k, v in want.counts.items()
                                          if got.counts.get(k) != v))
    if got.documents != want.documents:
        changed = [k for k in want.documents if k in got.documents and got.documents[k] != want.documents[k]]
        out.append(f"documents: {len(got.documents)} vs {len(want.documents)}, "
                   f"missing {sorted(set(want.documents) - set(got.documents))[:3]}, hash differs {changed[:3]}")
    out += _list_diff("chunks", got.chunks, want.chunks)
    if set(got.entities) != set(want.entities):
        out += _list_diff("entity keys", sorted(got.entities), sorted(want.entities))
    fields = ("name", "type", "mentions", "vector", "linked")
    for index, label in enumerate(fields):
        differ = [(k, got.entities[k][index], v[index]) for k, v in want.entities.items()
                  if k in got.entities and got.entities[k][index] != v[index]]
        if differ:
            out.append(f"entity {label}: {len(differ)} of {len(want.entities)} differ (e.g. {differ[:2]}; got, clean)")
    out += _list_diff("HAS_CHUNK", got.has_chunk, want.has_chunk)
    out += _list_diff("NEXT", got.next, want.next)
    out += _list_diff("MENTIONS", got.mentions, want.mentions)
    pairs = [(a, b) for a, b, _ in got.same_as]
    want_pairs = [(a, b) for a, b, _ in want.same_as]
    out += _list_diff("SAME_AS pairs", pairs, want_pairs)
    if pairs == want_pairs:
        off = [(a, b, s, t) for (a, b, s), (_, _, t) in zip(got.same_as, want.same_as, strict=True)
               if abs(s - t) > SIMILARITY_TOLERANCE]
        if off:
            out.append(f"SAME_AS similarity: {len(off)} differ by more than {SIMILARITY_TOLERANCE} (e.g. {off[:2]})")
    return out


# --- processes ------------------------------------------------------------------------------------


def cli_env(url: str, password: str, database: str, data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a `graphrag` subprocess: the database by GRAPHRAG_* variables (the
    password too: never on a command line), offline models, its own data folder."""
    env = {**os.environ, "GRAPHRAG_DB_URL": url, "GRAPHRAG_DB_PASSWORD": password, "GRAPHRAG_DB_NAME": database,
           "GRAPHRAG_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.update({f"GRAPHRAG_{k.upper()}": v for k, v in settings.items()})
    return env


def ingest_command(*inputs: Path, documents_per_batch: int = 4) -> list[str]:
    return [sys.executable, "-m", "cli", "ingest", *map(str, inputs),
            "--documents-per-batch", str(documents_per_batch), "--no-progress"]


def start_ingest(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    try:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    finally:
        handle.close()


def run_ingest(cmd: list[str], env: dict[str, str], log: Path, timeout: float = 600) -> int:
    """Run to the end; the exit code (a bound on the wait, not a timing assertion)."""
    proc = start_ingest(cmd, env, log)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"`graphrag ingest` did not end within {timeout:.0f}s; log: {log}") from None


def document_count(db: ArcadeDB) -> int:
    return int(db.cypher("MATCH (d:Document) RETURN count(d) AS n")[0]["n"])


def stored_documents(db: ArcadeDB) -> dict[str, str]:
    """id -> content hash of every stored document."""
    return {r["id"]: r["h"] for r in db.cypher("MATCH (d:Document) RETURN d.id AS id, d.content_hash AS h")}


def torn_documents(db: ArcadeDB) -> list[str]:
    """Documents stored without exactly their `chunk_count` chunks, and chunks stored without their
    document: what a write that was not all-or-nothing would leave (empty: documents are whole)."""
    rows = db.cypher("MATCH (d:Document) OPTIONAL MATCH (d)-[:HAS_CHUNK]->(c:Chunk) "
                     "RETURN d.id AS id, d.chunk_count AS n, count(c) AS got")
    torn = [r["id"] for r in rows if r["n"] != r["got"]]
    orphans = db.cypher("MATCH (c:Chunk) WHERE NOT (c)<-[:HAS_CHUNK]-() RETURN c.id AS id")
    return torn + [r["id"] for r in orphans]


def wait_until(proc: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float = 600,
               every: float = 0.05) -> bool:
    """Poll `ready` while `proc` runs; True when it became true, False when the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(Exception):  # a read that failed mid-fault is just "not yet"
            if ready():
                return True
        time.sleep(every)
    raise AssertionError(f"neither the condition nor the end of process {proc.pid} within {timeout:.0f}s")


def sigkill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- the table --------------------------------------------------------------------------------------


@dataclass
class Trial:
    """One row of the table: which scenario, which seed, what was done, what came out."""

    scenario: str
    trial: str
    detail: str
    outcome: str
    ok: bool
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Results:
    mode: str
    seed: int
    trials: list[Trial] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, trial: Trial) -> Trial:
        self.trials.append(trial)
        return trial

    def table(self) -> str:
        lines = [f"chaos suite, {self.mode} form, seed {self.seed} "
                 f"(replay: --chaos-seed {self.seed}{' --chaos-long' if self.mode == 'long' else ''})", "",
                 "| scenario | trials | as expected |", "|---|---|---|"]
        scenarios: dict[str, list[Trial]] = {}
        for trial in self.trials:
            scenarios.setdefault(trial.scenario, []).append(trial)
        for name, trials in scenarios.items():
            lines.append(f"| {name} | {len(trials)} | {sum(t.ok for t in trials)} |")
        lines += ["", "| scenario | trial | what was done | outcome |", "|---|---|---|---|"]
        lines += [f"| {t.scenario} | {t.trial} | {t.detail} | {'' if t.ok else '**FAILED** '}{t.outcome} |"
                  for t in self.trials]
        if self.notes:
            lines += ["", *self.notes]
        return "\n".join(lines) + "\n"
