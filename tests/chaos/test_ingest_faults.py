"""`graphrag ingest` under faults: the job SIGKILLed at random moments, the database server
SIGKILLed mid-job, and overlapping jobs running at once. Every trial ends with the graph of one
clean run over the same documents: the same counts, document ids and content hashes, chunk ids,
entities (key, name, type, mention count, vector, linked) and edges with their properties.

Kill points are drawn from the chaos seed (printed in the table): `--chaos-seed N` replays the
same draws. A draw is "once K documents are committed, wait D seconds, then kill": commits come a
batch (4 documents) at a time, so D spreads the kills over NER, embedding, the write transaction
and SAME_AS linking, and K = all documents lands in the closing pass.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from graphrag.arcadedb import ArcadeDB, RetryPolicy
from graphrag.embedded import EmbeddedServer
from graphrag.procs import read_pid
from schema.runner import MigrationRunner
from tests.chaos import corpus
from tests.chaos.conftest import DOCUMENTS_PER_BATCH, Form, rng_for
from tests.chaos.harness import (
    Results,
    Snapshot,
    Trial,
    cli_env,
    differences,
    document_count,
    ingest_command,
    run_ingest,
    sigkill,
    snapshot,
    start_ingest,
    stored_documents,
    tail,
    torn_documents,
    wait_until,
)
from tests.conftest import free_port


def _verdict(results: Results, scenario: str) -> None:
    failed = [t for t in results.trials if t.scenario == scenario and not t.ok]
    assert not failed, (f"{len(failed)} {scenario} trial(s) failed (replay with --chaos-seed {results.seed}):\n"
                        + "\n".join(f"{t.trial}: {t.detail}: {t.outcome}" for t in failed))


def _outcome(db: ArcadeDB, clean: Snapshot, rerun_code: int, log: Path) -> tuple[bool, str]:
    if rerun_code != 0:
        return False, f"the re-run exited {rerun_code}: {tail(log, 5)}"
    diffs = differences(snapshot(db), clean)
    return (not diffs), ("equal to the clean run" if not diffs else "; ".join(diffs))


def test_ingest_killed_at_random_moments_then_rerun_equals_a_clean_run(
        form: Form, chaos_seed: int, results: Results, clean_graph: Snapshot, corpus_file: Path,
        make_db: Callable[..., ArcadeDB], server: EmbeddedServer, tmp_path: Path) -> None:
    scenario = "ingest SIGKILL, re-run"
    total = len(clean_graph.documents)
    cmd = ingest_command(corpus_file, documents_per_batch=DOCUMENTS_PER_BATCH)
    for trial in range(form.client_kills):
        rng = rng_for(chaos_seed, "client", trial)
        log = tmp_path / f"client-{trial}.log"
        for _attempt in range(4):  # a draw the job outran (it ended first) is drawn again on a new database
            at_docs, delay = rng.randint(1, total), round(rng.uniform(0.0, 1.5), 2)
            db = make_db("chaos_kill")
            env = cli_env(server.url, server.password, db.database, tmp_path / "data")
            proc = start_ingest(cmd, env, log)
            if wait_until(proc, lambda db=db, n=at_docs: document_count(db) >= n):  # type: ignore[misc]
                time.sleep(delay)
                if proc.poll() is None:
                    sigkill(proc.pid)
                    proc.wait(timeout=60)
                    break
            proc.wait(timeout=600)
        else:
            raise AssertionError(f"trial {trial}: the job ended before every kill point drawn (seed {chaos_seed})")
        left = document_count(db)
        torn = torn_documents(db)
        rerun = run_ingest(cmd, env, log)
        ok, outcome = _outcome(db, clean_graph, rerun, log)
        if torn:
            ok, outcome = False, f"torn documents after the kill: {torn[:5]}; " + outcome
        where = "after the last commit (linking / closing pass)" if at_docs == total else \
            f"{at_docs}+ of {total} documents committed"
        results.add(Trial(scenario, f"#{trial}", f"killed {delay:.2f} s after {where}; it had {left} documents",
                          outcome, ok))
    _verdict(results, scenario)


def test_database_killed_mid_ingest_keeps_its_commits_and_rerun_equals_a_clean_run(
        form: Form, chaos_seed: int, results: Results, clean_graph: Snapshot, corpus_file: Path,
        tmp_path: Path) -> None:
    """The database server (our own: the session's serves every other test) is SIGKILLed while a job
    writes to it: the job ends on its own (no hang), every document committed before the kill is
    there after the restart, whole, and the same command run again completes the graph."""
    scenario = "database SIGKILL mid-ingest, restart, re-run"
    srv = EmbeddedServer(tmp_path / "db", free_port(), "pw-" + os.urandom(8).hex(), "graphrag", heap="512m")
    srv.start(timeout=180)
    total = len(clean_graph.documents)
    cmd = ingest_command(corpus_file, documents_per_batch=DOCUMENTS_PER_BATCH)
    try:
        for trial in range(form.server_kills):
            rng = rng_for(chaos_seed, "server", trial)
            at_docs, delay = rng.randint(1, total - 2 * DOCUMENTS_PER_BATCH), round(rng.uniform(0.0, 1.5), 2)
            db = ArcadeDB(srv.url, f"kill_{trial}", "root", srv.password, timeout=10,
                          retry=RetryPolicy(attempts=3, max_seconds=10))
            db.ensure_database()
            MigrationRunner(db, embedding_dim=384).migrate()
            # a short retry budget: the job should give up soon after the server is gone
            env = cli_env(srv.url, srv.password, db.database, tmp_path / "data",
                          db_retries="3", db_retry_max_s="5", db_timeout_s="10")
            log = tmp_path / f"server-{trial}.log"
            proc = start_ingest(cmd, env, log)
            assert wait_until(proc, lambda db=db, n=at_docs: document_count(db) >= n), tail(log)  # type: ignore[misc]
            time.sleep(delay)
            committed = stored_documents(db)  # read just before the kill: every one must survive it
            pid = read_pid(srv.pid_file, srv.marker)
            assert pid is not None
            killed = time.monotonic()
            sigkill(pid)
            try:
                code = proc.wait(timeout=180)  # a bound for a hang, not a timing assertion
            except subprocess.TimeoutExpired:
                proc.kill()
                raise AssertionError(f"the job hung after the database died; log:\n{tail(log)}") from None
            ended_s = time.monotonic() - killed
            srv.start(timeout=180)
            after = stored_documents(db)
            lost = {k for k, v in committed.items() if after.get(k) != v}
            torn = torn_documents(db)
            rerun = run_ingest(cmd, env, log)
            ok, outcome = _outcome(db, clean_graph, rerun, log)
            # exit 0 is a failure only for a job the kill cut short: one whose last documents were all
            # committed before it (a quiet machine writes the 24 within the random delay) may end well
            if lost or torn or (code == 0 and len(committed) < total):
                ok = False
                outcome = (f"exit {code} after the kill; lost {sorted(lost)[:5]}; torn {torn[:5]}; " + outcome)
            results.add(Trial(
                scenario, f"#{trial}",
                f"server killed {delay:.2f} s after {at_docs}+ of {total} documents committed "
                f"({len(committed)} seen); the job exited {code} {ended_s:.1f} s later",
                f"{len(committed)} committed, all kept whole after the restart; " + outcome if ok else outcome, ok))
            db.close()
    finally:
        srv.stop()
    _verdict(results, scenario)


def test_overlapping_concurrent_ingests_equal_one_run(
        form: Form, chaos_seed: int, results: Results, clean_graph: Snapshot, chaos_corpus: list[dict[str, str]],
        make_db: Callable[..., ArcadeDB], server: EmbeddedServer, tmp_path: Path) -> None:
    """Two or three `graphrag ingest` processes at once on overlapping slices of the corpus (same
    documents, same ids), into one database: every job succeeds and the graph equals one run's,
    entity names and types included (issue 11 item 4): of all spellings of a key the first in
    `graphrag.normalize.spelling_rank` is stored, whichever job wrote first, and an entity's vector
    (so its SAME_AS similarities) is its key's. The corpus names its organisations in three spellings
    of one key, spread over the documents, so overlapping jobs do race to write them."""
    scenario = "concurrent overlapping ingests"
    n = len(chaos_corpus)
    for trial in range(form.concurrent_runs):
        rng = rng_for(chaos_seed, "concurrent", trial)
        jobs = 2 if trial % 2 == 0 else 3
        # contiguous slices covering the corpus, each starting 4 to 8 documents before the previous ends
        bounds = [0, *sorted(rng.sample(range(n // (2 * jobs) + 4, n - 4), jobs - 1)), n]
        slices = [(max(0, bounds[j] - (rng.randint(4, 8) if j else 0)), bounds[j + 1]) for j in range(jobs)]
        gaps = [0.0] + [round(rng.uniform(0.0, 2.0), 2) for _ in range(jobs - 1)]  # seconds between starts
        db = make_db("chaos_conc")
        env = cli_env(server.url, server.password, db.database, tmp_path / "data")
        procs = []
        logs = []
        for j, (lo, hi) in enumerate(slices):
            part = corpus.write_jsonl(chaos_corpus[lo:hi], tmp_path / f"conc-{trial}-{j}.jsonl")
            logs.append(tmp_path / f"conc-{trial}-{j}.log")
            time.sleep(gaps[j])
            procs.append(start_ingest(ingest_command(part, documents_per_batch=DOCUMENTS_PER_BATCH), env, logs[-1]))
        codes = []
        for proc in procs:
            try:
                codes.append(proc.wait(timeout=900))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(None)
        diffs = differences(snapshot(db), clean_graph)
        ok = all(c == 0 for c in codes) and not diffs
        outcome = ("equal to one run" if not diffs else "; ".join(diffs))
        if any(c != 0 for c in codes):
            bad = [j for j, c in enumerate(codes) if c != 0]
            outcome = f"exit codes {codes} ({tail(logs[bad[0]], 4)}); " + outcome
        results.add(Trial(scenario, f"#{trial}",
                          f"{jobs} jobs on documents " + ", ".join(f"[{lo}, {hi})" for lo, hi in slices)
                          + f", started {', '.join(map(str, gaps[1:]))} s apart", outcome, ok))
    _verdict(results, scenario)
