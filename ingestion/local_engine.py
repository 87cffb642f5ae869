"""`LocalExecutor`: a job's batches through three stages at once in this process, joined by bounded queues,
so CPU work overlaps database writes:

    calling thread  plan -> chunk + NER (`BatchProcessor`; `workers` threads)     (batches of documents)
    embed thread    chunk texts ("title\\ntext") and new entity keys -> vectors  (`embed_batch`)
    write thread    one transaction per batch (`write_batch`), then SAME_AS for new entities (`link_batch`)

Batches stay in input order end to end, so a job's result does not depend on timing. The frame around it
(counts, error mapping, closing pass, report) is `ingestion/frame.py`'s, shared with the Ray engine.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from graphrag.embeddings import Embedder
from ingestion.job import Job, PreparedBatch
from ingestion.steps import BatchProcessor, count_written, embed_batch, link_batch, torch_threads, write_batch

log = logging.getLogger(__name__)

_STOP = object()  # a queue's end mark


class LocalExecutor:
    """Runs a job's batches in threads of this process (the default engine).

    Args:
        processor: chunking and NER (its extractor is shared by the `workers` threads).
        embedder: the loaded embedder (shared with retrieval to load the model once).
    """

    def __init__(self, processor: BatchProcessor, embedder: Embedder):
        self.processor = processor
        self.embedder = embedder

    def execute(self, job: Job, batches: Iterator[PreparedBatch]) -> None:
        """Every planned batch prepared, embedded, written and linked, in input order.

        Raises:
            BaseException: the first error of any stage (the calling thread's own first), once every
                stage has stopped.
        """
        stop = job.stop
        embed_q: queue.Queue[Any] = queue.Queue(maxsize=job.config.queue_size)
        write_q: queue.Queue[Any] = queue.Queue(maxsize=job.config.queue_size)
        errors: list[BaseException] = []
        embed_thread = threading.Thread(target=_guard, name="ingest-embed", daemon=True,
                                        args=(lambda: self._embed_stage(job, embed_q, write_q), stop, errors))
        write_thread = threading.Thread(target=_guard, name="ingest-write", daemon=True,
                                        args=(lambda: self._write_stage(job, write_q), stop, errors))
        embed_thread.start()
        write_thread.start()
        try:
            for prepared in self._prepare_stage(job, batches):
                while not stop.is_set():
                    try:
                        embed_q.put(prepared, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
        except BaseException:
            stop.set()  # --strict, Ctrl-C or a database failure while planning: stop the other stages first
            raise
        finally:
            _put_until(embed_q, _STOP, stop)
            embed_thread.join()
            write_thread.join()
        if errors:
            raise errors[0]

    def _prepare_stage(self, job: Job, batches: Iterator[PreparedBatch]) -> Iterator[PreparedBatch]:
        """Planned batches, chunked and extracted (by `workers` threads, yielded in input order)."""
        workers = job.config.workers
        if workers == 1:
            for prepared in batches:
                yield self.processor.process(prepared, job.timer)
            return
        window: list[Future[PreparedBatch]] = []
        with ThreadPoolExecutor(workers, thread_name_prefix="ingest-nlp") as pool:
            try:
                for prepared in batches:
                    window.append(pool.submit(self.processor.process, prepared, job.timer))
                    while len(window) > workers:
                        yield window.pop(0).result()
                while window:
                    yield window.pop(0).result()
            finally:
                for future in window:
                    future.cancel()

    def _embed_stage(self, job: Job, inbox: queue.Queue[Any], outbox: queue.Queue[Any]) -> None:
        known: set[str] = set()  # entity keys that have a vector in the database (or are about to)
        chunk_threads = job.config.embed_threads or torch_threads()
        while True:
            prepared = _get_until(inbox, job.stop)
            if prepared is _STOP:
                _put_until(outbox, _STOP, job.stop)
                return
            embed_batch(prepared, self.embedder, job.store.entity_keys_with_embedding, known, job.timer,
                        chunk_threads=chunk_threads, entity_threads=job.config.entity_embed_threads)
            _put_until(outbox, prepared, job.stop)

    @staticmethod
    def _write_stage(job: Job, inbox: queue.Queue[Any]) -> None:
        while True:
            prepared = _get_until(inbox, job.stop)
            if prepared is _STOP:
                return
            stats = write_batch(job, prepared)
            if stats is None:
                continue
            count_written(job, prepared, stats, link_batch(job, prepared))


def _guard(stage: Callable[[], None], stop: threading.Event, errors: list[BaseException]) -> None:
    """Run a stage; on failure record it and stop the others (no thread dies silently)."""
    try:
        stage()
    except BaseException as exc:
        # INFO: the frame reports our error once (the CLI's one line); anything else is raised with its traceback
        log.info("ingestion stage %s failed: %s", threading.current_thread().name, exc)
        errors.append(exc)
        stop.set()


def _get_until(q: queue.Queue[Any], stop: threading.Event) -> Any:
    """The next item, or `_STOP` once the job is stopping.

    A stage that failed sets `stop` and never sends its `_STOP`: a reader blocked in a plain
    `get()` would wait for it forever (the job hung at 0 CPU when the database went away during
    the embed stage), so every reader polls `stop` while it waits.
    """
    while not stop.is_set():
        try:
            item = q.get(timeout=0.2)
        except queue.Empty:
            continue
        return _STOP if stop.is_set() else item
    return _STOP


def _put_until(q: queue.Queue[Any], item: Any, stop: threading.Event) -> None:
    """Put `item`, giving up when the job is stopping and nobody reads any more."""
    while True:
        try:
            q.put(item, timeout=0.2)
            return
        except queue.Full:
            if stop.is_set():
                with contextlib.suppress(queue.Empty):
                    q.get_nowait()  # make room: the reader is gone or about to see `stop`
