"""`RayIngestionPipeline`: the same job as `IngestionPipeline`, its CPU and GPU work spread over a Ray cluster.

    driver thread    load -> skip unchanged (content hash) -> batches        (`steps.plan_batches`)
        | a Ray queue (bounded: planning waits when the cluster is behind)
    Ray Data         read the queue -> chunk + NER (actor pool, spaCy) -> embed (actor pool, num_gpus when
                     the cluster has GPUs) -> back to the driver, in whatever order they finish
    driver           batches put back in input order -> per-batch de-duplication against the job
                     (the spelling first in `spelling_rank` wins, as in the local engine) -> writes
                     (a bounded pool of threads, one transaction per batch, conflicts retried) -> SAME_AS,
                     in input order, once a batch and every batch before it are stored -> the closing pass

Why the result equals the local engine's graph:
- batches are cut by the same planner, so each is chunked, extracted and embedded exactly as the local
  engine would (same texts in the same model calls);
- an entity is stored with the name and type first in `graphrag.normalize.spelling_rank` among all its
  spellings, and with the vector of its key, in both engines and whichever transaction commits first:
  the driver gives every later batch's row for a key the best spelling seen so far and the first batch's
  vector, and the write path renames a stored entity only to a spelling that sorts first;
- SAME_AS pairs come from the same in-memory exact linker fed in input order, after the batches commit.
Floating-point values (vectors, similarities) may differ in the last digits where a model ran on another
device or thread count; ids, keys, names, types, edges and counts are the same.

Resumable like the local engine: each batch is one transaction on deterministic keys, so a driver killed
at any point leaves whole batches; a re-run skips them by content hash, and the closing pass embeds and
links what the killed run left undone.

The job frame around it (counts, error mapping, closing pass, report) is `ingestion/frame.py`'s, shared with
the local engine; both run the steps of `ingestion/steps.py`.

Only the driver and the embedding actors talk to the database (the actors ask which entity names already
have a vector, so a daily run does not embed the whole vocabulary again): the actors get the connection
settings, password included, as constructor arguments, which Ray keeps in the cluster's memory, never in
a command line or a log.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import gc
import itertools
import logging
import os
import pickle
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphrag.arcadedb import ArcadeDB, Connection
from graphrag.config import Settings
from graphrag.embeddings import Embedder, SentenceTransformerEmbedder, WordPieceCounter
from graphrag.errors import IngestionError, StoreError
from graphrag.nlp import without_torch
from graphrag.normalize import spelling_rank
from graphrag.store import GraphStore, WriteStats
from ingestion.extraction import EntityExtractor, SpacyEntityExtractor
from ingestion.frame import IngestionPipeline
from ingestion.job import IngestionConfig, Job, PreparedBatch, ProgressListener, StageTimer
from ingestion.ray_runtime import RayConfig, ensure_ray, ray_config_from, shutdown_local_ray

# The runtime's calls stay importable from here for the modules that stop a runtime a job started through
# this one (api/main.py, which imports them only once this module is loaded).
__all__ = ["FirstMentions", "OrderedWriter", "RayConfig", "RayExecutor", "RayIngestionPipeline", "ensure_ray",
           "feed_queue", "per_worker", "ray_config_from", "shutdown_local_ray"]
from ingestion.steps import BatchProcessor, count_written, embed_batch, link_batch, make_chunker, write_batch

log = logging.getLogger(__name__)

_END = None  # the queue's last item


# --- the Ray side: a streaming source and the two actor stages ------------------------------------------


def _worker_id() -> tuple[str, str]:
    """(node, worker) names for the per-worker throughput record."""
    try:
        import ray

        node = ray.get_runtime_context().get_node_id()[:12]
    except Exception:  # outside Ray (unit use): the host name is as good
        node = socket.gethostname()
    return node, f"{node}/{os.getpid()}"


def _trace(prepared: PreparedBatch, stage: str, seconds: float, worker: tuple[str, str], **counts: int) -> None:
    prepared.trace.append({"stage": stage, "node": worker[0], "worker": worker[1], "seconds": seconds,
                           "documents": len(prepared.documents), "chunks": len(prepared.graph.chunks), **counts})


def _rows(batch: dict[str, Any]) -> list[PreparedBatch]:
    return [pickle.loads(payload) for payload in batch["payload"]]  # noqa: S301 - our own driver's bytes


@dataclass
class _Failed:
    """A batch a stage could not prepare, carried to the driver as a row rather than raised.

    Ray pickles an actor's exception without its `__cause__`, and Ray Data raises a UDF's error as
    `UserCodeException(...) from error`: our error, a database outage included, never reached the
    driver, so an outage met by an embedding actor failed the file as an internal error instead of
    ending the job as the local engine does (exit 1, or a paused API job). The driver raises it.
    """

    index: int
    error: StoreError | IngestionError


def _prepare(prepared: PreparedBatch, step: Callable[[PreparedBatch], None]) -> PreparedBatch | _Failed:
    """`step(prepared)`, with our error returned to the driver as data (see `_Failed`)."""
    try:
        step(prepared)
    except (StoreError, IngestionError) as exc:
        return _Failed(prepared.index, exc)
    return prepared


def _batch(items: Sequence[PreparedBatch | _Failed]) -> dict[str, Any]:
    payload = np.empty(len(items), dtype=object)
    payload[:] = [pickle.dumps(p, protocol=pickle.HIGHEST_PROTOCOL) for p in items]
    return {"index": np.array([p.index for p in items], dtype=np.int64), "payload": payload}


def _queue_source(queue: Any) -> Any:
    """A Ray Data source that yields the driver's planned batches as they come, one block each.

    Ray Data has no source for a Python iterator; one read task draining a bounded Ray queue streams
    the planner's output into the pipeline (planning runs ahead by at most the queue's size).
    """
    import pyarrow as pa
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    class QueueSource(Datasource):  # type: ignore[misc]
        def estimate_inmemory_data_size(self) -> int | None:
            return None

        def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                           data_context: Any = None) -> list[Any]:
            def read() -> Iterable[Any]:
                while True:
                    item = queue.get()
                    if item is _END:
                        return
                    index, payload = item
                    yield pa.table({"index": pa.array([index], pa.int64()),
                                    "payload": pa.array([payload], pa.binary())})

            return [ReadTask(read, BlockMetadata(num_rows=None, size_bytes=None, input_files=None, exec_stats=None))]

    return QueueSource()


def _enlist(roster: Any, stages: tuple[str, ...], worker: tuple[str, str]) -> None:
    """An actor ready to work says where it runs: the report lists it even if it gets no batch."""
    roster.put([{"stage": stage, "node": worker[0], "worker": worker[1]} for stage in stages])


class ExtractStage:
    """Ray actor: chunking and NER of a batch (`BatchProcessor`, as the local engine's NLP threads)."""

    def __init__(self, model: str, config: IngestionConfig,
                 extractor_factory: Callable[[], EntityExtractor] | None, roster: Any):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        without_torch()  # this actor runs spaCy and a tokenizer, never a torch model
        # Chunks are measured in the model's word pieces, as locally: its tokenizer, not the model, is loaded
        # (the embedding actors load the model and check its dimension against the schema).
        extractor = extractor_factory() if extractor_factory else SpacyEntityExtractor(
            titlecase_spans=config.titlecase_spans)
        self.processor = BatchProcessor(make_chunker(WordPieceCounter.for_model(model), config), extractor)
        self.worker = _worker_id()
        _enlist(roster, ("chunk", "extract"), self.worker)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        return _batch([_prepare(prepared, self._process) for prepared in _rows(batch)])

    def _process(self, prepared: PreparedBatch) -> None:
        timer = StageTimer()
        self.processor.process(prepared, timer)
        _trace(prepared, "chunk", timer.seconds.get("chunk", 0.0), self.worker)
        _trace(prepared, "extract", timer.seconds.get("extract", 0.0), self.worker,
               mentions=len(prepared.graph.mentions))


class EmbedStage:
    """Ray actor: chunk vectors and vectors for entity names the database does not have yet."""

    def __init__(self, model: str, dimension: int, batch_size: int, device: str, connection: Connection,
                 entity_threads: int, roster: Any):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.embedder = SentenceTransformerEmbedder(model, expected_dim=dimension, batch_size=batch_size,
                                                    device=device)
        self.store = GraphStore(ArcadeDB.open(connection))
        self.entity_threads = entity_threads
        self.worker = _worker_id()
        _enlist(roster, ("embed_chunks", "embed_entities"), self.worker)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        return _batch([_prepare(prepared, self._embed) for prepared in _rows(batch)])

    def _embed(self, prepared: PreparedBatch) -> None:
        timer = StageTimer()
        # No memory across batches here: this actor sees only some of them, in any order. The
        # driver decides which entities are new to the job.
        embed_batch(prepared, self.embedder, self.store.entity_keys_with_embedding, set(), timer,
                    chunk_threads=None, entity_threads=self.entity_threads)
        _trace(prepared, "embed_chunks", timer.seconds.get("embed_chunks", 0.0), self.worker)
        _trace(prepared, "embed_entities", timer.seconds.get("embed_entities", 0.0), self.worker,
               names=len(prepared.new_entity_keys))


# --- the driver ----------------------------------------------------------------------------------------


def feed_queue(queue: Any, batches: Iterator[PreparedBatch], stop: threading.Event, finished: threading.Event,
               errors: list[BaseException]) -> None:
    """Planner thread: the job's planned batches put on the cluster's queue, then its end mark.

    Its error (a database outage while planning, --strict) goes to `errors`, for the driver to raise."""
    from ray.util.queue import Full

    def put(item: Any, until: threading.Event) -> bool:
        while not until.is_set():
            try:
                queue.put(item, timeout=0.5)
                return True
            except Full:
                continue
        return False

    try:
        for prepared in batches:
            if not put((prepared.index, pickle.dumps(prepared, protocol=pickle.HIGHEST_PROTOCOL)), stop):
                return
    except BaseException as exc:
        log.info("ingestion planning stopped: %s", exc)  # the report says it, once
        errors.append(exc)
        stop.set()
    finally:
        # The read task ends only on this mark, and the queue may stay full for long (the actor pools
        # load their models before any batch is taken): wait for room as long as the driver reads.
        # It once gave up after 30 s under load, and the job hung with every actor idle.
        with contextlib.suppress(Exception):
            put(_END, finished)


class RayExecutor:
    """Runs a job's batches on Ray: planning in a driver thread, chunk + NER and embedding in Ray Data's actor
    pools, writes and SAME_AS back in the driver (`OrderedWriter`).

    Args:
        db: the driver's database client (its connection settings go to the embedding actors).
        ray_config: cluster address and pool sizes.
        extractor_factory: builds the extractor inside each actor (default: spaCy); it must be picklable.
    """

    def __init__(self, db: ArcadeDB, ray_config: RayConfig,
                 extractor_factory: Callable[[], EntityExtractor] | None = None):
        self.db = db
        self.ray_config = ray_config
        self.extractor_factory = extractor_factory

    def execute(self, job: Job, batches: Iterator[PreparedBatch]) -> None:
        """Every batch through the actor pools and back, written and linked in input order.

        Raises:
            BaseException: the driver's first error (an actor's own error arrives as a `_Failed` row and
                is raised here), else the planner's.
        """
        import ray
        from ray.util.queue import Queue

        # A job with nothing to write (every document unchanged, or none) starts no runtime and no actor
        # pool: the first batch is planned before the runtime starts, the rest while the pools work.
        try:
            first = next(batches, None)
        except BaseException as exc:
            log.info("ingestion planning stopped: %s", exc)  # as `feed_queue` logs a planner's error
            raise
        if first is None:
            return
        batches = itertools.chain([first], batches)
        stop = job.stop
        finished = threading.Event()  # the driver has stopped reading: nobody needs the queue's end mark
        t0 = time.perf_counter()
        ensure_ray(self.ray_config)
        job.timer.add("ray_start", time.perf_counter() - t0)
        queue = Queue(maxsize=self.ray_config.queue_batches, actor_options={"num_cpus": 0})
        roster = Queue(actor_options={"num_cpus": 0})  # every pool actor, busy or idle (`_enlist`)
        feeder_errors: list[BaseException] = []
        feeder = threading.Thread(target=feed_queue, name="ingest-plan", daemon=True,
                                  args=(queue, batches, stop, finished, feeder_errors))
        writer = OrderedWriter(job, self.db, self.ray_config)
        traces: list[dict[str, Any]] = []
        enlisted: list[dict[str, Any]] = []  # (stage, node, worker) of every pool actor
        iterator = None
        threads_before: set[threading.Thread] = set()
        try:
            feeder.start()
            dataset = self._dataset(job, queue, roster)
            threads_before = set(threading.enumerate())
            iterator = iter(dataset.iter_rows())
            waiting: dict[int, PreparedBatch] = {}
            next_index = 0
            for row in iterator:
                prepared: PreparedBatch | _Failed = pickle.loads(row["payload"])  # noqa: S301 - from our own actors
                if isinstance(prepared, _Failed):
                    raise prepared.error
                waiting[prepared.index] = prepared
                while next_index in waiting and not stop.is_set():
                    ready = waiting.pop(next_index)
                    next_index += 1
                    traces.extend(ready.trace)
                    writer.submit(ready)
                if stop.is_set():
                    break
            writer.close()
        finally:
            stop.set()
            finished.set()
            writer.shutdown()
            if iterator is not None:
                _end_iteration(iterator, threads_before)
                iterator = None
            feeder.join(timeout=60)
            with contextlib.suppress(Exception):
                enlisted.extend(a for rows in roster.get_nowait_batch(roster.qsize()) for a in rows)
            for q in (queue, roster):
                with contextlib.suppress(Exception):
                    ray.kill(q.actor)
            job.report.workers = per_worker(traces + writer.traces, enlisted)
        if feeder_errors:
            raise feeder_errors[0]

    def _dataset(self, job: Job, queue: Any, roster: Any) -> Any:
        import ray

        ctx = ray.data.DataContext.get_current()
        # Ray Data configures its loggers when it is first imported (DEBUG, its own console handler): its INFO
        # lines (execution plans, log folders) would interleave with the job's own progress bar.
        logging.getLogger("ray.data").setLevel(self.ray_config.log_level)
        ctx.target_max_block_size = 1  # one planned batch per block: never merged, so every actor gets work
        ctx.execution_options.preserve_order = False  # the driver restores the order itself
        ctx.enable_progress_bars = False  # the job's own progress bar says it
        # Every actor of a pool has loaded its model before work flows: batches then go to all of them
        # (not all to the first one ready), and a cluster that cannot fit a pool fails with a clear
        # error instead of waiting forever.
        ctx.wait_for_min_actors_s = self.ray_config.actor_start_timeout_s
        gpus = self.ray_config.embed_gpus
        if gpus is None:
            gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        settings, config = job.settings, job.config
        model, dim = settings.embedding_model, settings.embedding_dim
        # A batch is a few hundred KB of text whose NER and embedding cost seconds: moving it to an idle
        # actor on another node beats queueing it behind the busy one beside the read task. One task in
        # flight per actor: a busy actor has no room, so Ray Data's locality-first pick falls through to
        # the least busy actor anywhere (with several in flight, the actor beside the read task took them
        # while the other node's idled; Ray 2.60 deprecates `actor_locality_enabled`, the old switch).
        def pool(size: int) -> Any:
            return ray.data.ActorPoolStrategy(size=size, max_tasks_in_flight_per_actor=1)

        # Ray Data places actors with its default SPREAD policy, best effort; custom resources
        # (`extract_resources`, `embed_resources`) pin a stage to the nodes that offer them.
        # Ray Data restarts a pool's actors without end (max_restarts=-1), which a cluster needs: a node
        # lost mid-job takes its actors with it. Ray's core then logs an ERROR for every such pool, since
        # Ray Data passes the actors' constructor arguments by reference ("constructor arguments in the
        # object store and max_restarts > 0", ray-project/ray#53727). A local runtime has no node to
        # lose, only a crashed actor to retry, and a crash there is a bug to see: no restarts, no line.
        # `map_batches_internal` (a DeveloperAPI; Ray's own ray.data.llm passes its actor options the
        # same way) takes that option, which Ray 2.60's `map_batches` names no parameter for and warns
        # about as a deprecated `ray_remote_args`.
        restarts: dict[str, Any] = {} if self.ray_config.address else {"max_restarts": 0}
        dataset = ray.data.read_datasource(_queue_source(queue), override_num_blocks=1, num_cpus=0)
        dataset = dataset.map_batches_internal(
            ExtractStage, batch_size=1, compute=pool(self.ray_config.extract_actors),
            num_cpus=self.ray_config.extract_cpus, resources=self.ray_config.extract_resources or None,
            fn_constructor_args=(model, config, self.extractor_factory, roster), **restarts)
        return dataset.map_batches_internal(
            EmbedStage, batch_size=1, compute=pool(self.ray_config.embed_actors),
            num_cpus=self.ray_config.embed_cpus, num_gpus=gpus or None,
            resources=self.ray_config.embed_resources or None,
            fn_constructor_args=(model, dim, settings.embedding_batch_size, "cuda" if gpus else "cpu",
                                 self.db.connection(), config.entity_embed_threads, roster), **restarts)


# The threads Ray Data runs behind a dataset's iterator, by the names it gives them: the workers that fetch
# and format its blocks (`iter_threaded`), and the streaming executor's scheduling loop.
_RAY_DATA_THREADS = ("iter_threaded", "StreamingExecutor")


def _end_iteration(rows: Any, threads_before: set[threading.Thread], timeout_s: float = 10.0) -> None:
    """Close a dataset's row iterator, and wait for the Ray Data threads behind it: nothing of the job may
    call into Ray once the CLI stops its runtime.

    `close()` stops the streaming executor at once (Ray Data's `_on_iteration_end`), but the workers that
    fetch and format the blocks see their stop flag only on their next poll (0.1 s), and the inner pool's
    flag is set only when its generator is finalized: once the outer worker drops it, or, where it is left
    in a reference cycle, once the garbage collector runs (measured: one still polling after the runtime had
    stopped). A worker alive at `ray.shutdown()` calls into the core worker that is gone (its next call, or
    the object references it drops as it ends); Ray's C++ core then logs "The core worker has already been
    shutdown" and ends the process: an aborted `graphrag ingest` printed that beside its one error line on
    some runs. Ray Data's block prefetcher thread is left alone: closed early, it stays parked for good,
    handed no block to fetch.
    """
    with contextlib.suppress(Exception):
        rows.close()
    gc.collect()
    deadline = time.monotonic() + timeout_s
    ours = [t for t in threading.enumerate() if t not in threads_before and t.name.startswith(_RAY_DATA_THREADS)]
    for thread in ours:
        thread.join(max(0.0, deadline - time.monotonic()))
    if left := [t.name for t in ours if t.is_alive()]:
        log.info("Ray Data threads still running %.0f s after the job's dataset was closed: %s", timeout_s, left)


class RayIngestionPipeline(IngestionPipeline):
    """Runs ingestion jobs on Ray: same inputs, report, progress and graph as `IngestionPipeline`, whose
    frame it is with `RayExecutor` as the executor.

    Args:
        settings: project settings (embedding model, dimension).
        db: the database client of the driver (planning, writes, linking).
        embedder: a loaded embedder for the closing pass; unset = loaded only if that pass needs one.
        config: job knobs (the same as the local engine's; `workers` is unused: the actor pools are the workers).
        ray_config: cluster address and pool sizes.
        progress: progress listener.
        extractor_factory: builds the extractor inside each actor (default: spaCy, as locally);
            it must be picklable.
    """

    def __init__(self, settings: Settings, db: ArcadeDB, embedder: Embedder | None = None, *,
                 config: IngestionConfig | None = None, ray_config: RayConfig | None = None,
                 progress: ProgressListener | None = None,
                 extractor_factory: Callable[[], EntityExtractor] | None = None):
        self.ray_config = ray_config or RayConfig()
        super().__init__(settings, db, embedder, config=config, progress=progress,
                         executor=RayExecutor(db, self.ray_config, extractor_factory))


class FirstMentions:
    """Per-batch de-duplication against the job, in input order (see the module docstring): every later
    batch's row for a key gets the best spelling so far and the vector of the key's first batch."""

    def __init__(self) -> None:
        self.known: set[str] = set()  # entity keys some earlier batch of this job carried
        # key -> [name, type, vector or None]: the best spelling so far (spelling_rank), the vector of its
        # first mention (a key's vector, whichever batch embedded it)
        self.first: dict[str, list[Any]] = {}
        self.claimed: dict[int, list[str]] = {}  # batch index -> keys it introduced (vectors freed on commit)

    def apply(self, prepared: PreparedBatch) -> None:
        """Rewrites the batch's entity rows, and keeps only keys new to the job as its new entities."""
        vectors = {}
        if prepared.new_entity_vectors is not None:
            vectors = dict(zip(prepared.new_entity_keys, prepared.new_entity_vectors, strict=True))
        claimed = []
        for entity in prepared.graph.entities:
            first = self.first.get(entity.key)
            if first is None:
                self.first[entity.key] = [entity.name, entity.type, entity.embedding]
                claimed.append(entity.key)
                continue
            # the job's best spelling so far (the write path applies the same rule against the graph)
            if spelling_rank(entity.name, entity.type) < spelling_rank(first[0], first[1]):
                first[0], first[1] = entity.name, entity.type
            entity.name, entity.type, entity.embedding = first[0], first[1], first[2]
        self.claimed[prepared.index] = claimed
        # New to the job: embedded by the actor (the database had no vector) and named by no earlier batch.
        new = [k for k in prepared.new_entity_keys if k not in self.known]
        prepared.new_entity_keys = new
        prepared.new_entity_vectors = np.stack([vectors[k] for k in new]) if new else None
        self.known.update(prepared.entity_names)

    def stored(self, index: int) -> None:
        """Batch `index` is committed with its vectors: later batches find its keys in the database."""
        for key in self.claimed.pop(index, []):
            self.first[key][2] = None


class OrderedWriter:
    """The driver's write side: de-duplication against the job in input order (`FirstMentions`), a bounded
    pool of write transactions, and SAME_AS in input order once a batch and all before it are stored."""

    def __init__(self, job: Job, db: ArcadeDB, ray_config: RayConfig):
        self.job = job
        self.limit = ray_config.write_concurrency
        # Concurrent transactions adding MENTIONS to one popular entity conflict at commit; each conflict
        # replays the whole batch (it reads before it creates, so a replay is safe): more tries than a
        # single call gets, over a longer time. Conflicts only: a database that is down ends the job
        # within the configured budget, as on the local engine (it took 12 tries, about 25 s, before).
        retry = dataclasses.replace(db.retry, conflict_attempts=ray_config.write_attempts, conflict_max_seconds=300)
        self.store = GraphStore(db.clone(retry=retry), batch_size=job.config.batch_size)
        self.pool = concurrent.futures.ThreadPoolExecutor(self.limit, thread_name_prefix="ingest-write")
        self.inflight: collections.deque[tuple[PreparedBatch, concurrent.futures.Future[WriteStats | None]]] = \
            collections.deque()
        self.mentions = FirstMentions()
        self.traces: list[dict[str, Any]] = []

    def submit(self, prepared: PreparedBatch) -> None:
        self.mentions.apply(prepared)
        replaces = any(replaces for _, _, replaces in prepared.documents)
        if replaces:
            # A replaced document's batch deletes stale chunks and entities no one mentions any more:
            # run alone, so no concurrent batch adds a mention to an entity it is deleting.
            self._drain(wait_all=True)
        while sum(not f.done() for _, f in self.inflight) >= self.limit:
            concurrent.futures.wait([f for _, f in self.inflight if not f.done()],
                                    return_when=concurrent.futures.FIRST_COMPLETED)
            self._drain()
        self.inflight.append((prepared, self.pool.submit(self._write, prepared)))
        if replaces:
            self._drain(wait_all=True)
        else:
            self._drain()

    def close(self) -> None:
        self._drain(wait_all=True)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.store.db.close()  # its own connections (a long-lived API process runs many jobs)

    def _write(self, prepared: PreparedBatch) -> WriteStats | None:
        node = _worker_id()[0]
        t0 = time.perf_counter()
        stats = write_batch(self.job, prepared, store=self.store)
        self.traces.append({"stage": "write", "node": node, "worker": f"{node}/{threading.current_thread().name}",
                            "seconds": time.perf_counter() - t0, "documents": len(prepared.documents),
                            "chunks": len(prepared.graph.chunks)})
        return stats

    def _drain(self, *, wait_all: bool = False) -> None:
        """Finish stored batches at the head of the line, in input order: SAME_AS, counts, progress."""
        while self.inflight and (wait_all or self.inflight[0][1].done()):
            prepared, future = self.inflight.popleft()
            stats = future.result()  # a database that is gone stops the job here
            self.mentions.stored(prepared.index)
            if stats is None:
                continue
            t0 = time.perf_counter()
            linked = link_batch(self.job, prepared)
            if linked or prepared.new_entity_keys:
                self.traces.append({"stage": "link", "node": _worker_id()[0], "worker": "driver",
                                    "seconds": time.perf_counter() - t0, "documents": len(prepared.documents),
                                    "chunks": len(prepared.graph.chunks)})
            count_written(self.job, prepared, stats, linked)


def per_worker(traces: list[dict[str, Any]], enlisted: Iterable[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Seconds and items per (stage, worker), for throughput per worker; an actor that `enlisted` but got
    no batch has a row of zeros (a stage wider than its input needs)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}

    def row_of(t: dict[str, Any]) -> dict[str, Any]:
        return out.setdefault((t["stage"], t["worker"]), {"stage": t["stage"], "worker": t["worker"],
                                                          "node": t["node"], "batches": 0, "documents": 0,
                                                          "chunks": 0, "seconds": 0.0})

    for actor in enlisted:
        row_of(actor)
    for t in traces:
        row = row_of(t)
        row["batches"] += 1
        row["documents"] += t["documents"]
        row["chunks"] += t["chunks"]
        row["seconds"] += t["seconds"]
        for extra in ("mentions", "names"):
            if extra in t:
                row[extra] = row.get(extra, 0) + t[extra]
    return [{**r, "seconds": round(r["seconds"], 3)} for r in sorted(out.values(), key=lambda r: (r["stage"],
                                                                                                  r["worker"]))]
