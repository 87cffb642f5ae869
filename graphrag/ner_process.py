"""Question NER in a child process, so that spaCy's few milliseconds a question do not hold the API's GIL.

Why: at 8 clients the API is bound by the GIL, not by its two cores. spaCy's recogniser is many short
numpy calls that hold the GIL for ~3.5 ms a question, the largest GIL share left once the ranking ran
in compiled code. In a child process it runs on the other core with a GIL of its own; the request
thread waits on a pipe, with its GIL released, for one JSON line.

The child (`python -m graphrag.ner_process`) loads the same pipeline (`graphrag.nlp.load_spacy`) and
answers `names_in` for one question per line: a JSON string in, a JSON list of names out, on a pipe
of its own (its stdout is its stderr, so nothing a library prints can mix into the answers). It
exits when its input closes, so it never outlives the API.

Requests take turns (a lock): one question's NER is 3-4 ms, and a second child would cost another
~150 MB for a queue that is rarely two deep. A child that dies or stops answering is started again
once; if that fails too, NER runs in this process from then on, as it did before, with an error in
the log. Nothing is lost either way: a question's names are the same from both.
"""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from typing import IO, Any

log = logging.getLogger(__name__)

READY = "ready"


class NerProcess:
    """`names(text)`: the NAME_LABELS entities spaCy finds in a question, found in a child process.

    Args:
        timeout_s: how long one question may take before the child is restarted (its start, loading
            spaCy, has `start_timeout_s`).
    """

    def __init__(self, *, timeout_s: float = 10.0, start_timeout_s: float = 120.0):
        self.timeout_s = timeout_s
        self.start_timeout_s = start_timeout_s
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._ready = False
        self._local: Any = None  # the in-process pipeline, once the child could not be kept
        self._closed = False
        self._start()

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    def wait_ready(self) -> bool:
        """Wait for the child to have loaded spaCy (it starts loading at construction)."""
        with self._lock:
            try:
                self._await_ready()
            except (OSError, TimeoutError, ValueError) as exc:
                self._give_up(exc)
            return self._local is None

    def names(self, text: str) -> list[str]:
        with self._lock:
            if self._closed:
                raise RuntimeError("the NER process is closed")
            for attempt in (1, 2):
                if self._local is not None:
                    break
                try:
                    return self._ask(text)
                except (OSError, TimeoutError, ValueError) as exc:
                    if attempt == 2:
                        self._give_up(exc)
                    else:
                        log.warning("question NER process failed (%s); starting it again", exc)
                        self._stop()
                        self._start()
            from graphrag.nlp import names_in

            return names_in(self._local, text)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._stop()

    # --- the child ------------------------------------------------------------------------------
    def _start(self) -> None:
        self._ready = False
        self._child = subprocess.Popen([sys.executable, "-m", "graphrag.ner_process"], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})

    def _stop(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()
        try:
            child.wait(timeout=5)  # its input closed: it exits
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

    def _await_ready(self) -> None:
        if not self._ready:
            if self._line(self.start_timeout_s) != READY:
                raise ValueError("the NER process did not say it was ready")
            self._ready = True

    def _ask(self, text: str) -> list[str]:
        self._await_ready()
        child = self._child
        assert child is not None and child.stdin is not None
        child.stdin.write(json.dumps(text).encode() + b"\n")
        child.stdin.flush()
        names = json.loads(self._line(self.timeout_s))
        if not isinstance(names, list):
            raise ValueError(f"the NER process answered {names!r}")
        return [str(name) for name in names]

    def _line(self, timeout_s: float) -> str:
        child = self._child
        if child is None or child.stdout is None:
            raise OSError("no NER process")
        ready, _, _ = select.select([child.stdout], [], [], timeout_s)
        if not ready:
            raise TimeoutError(f"the NER process gave no answer within {timeout_s:g} s")
        line = child.stdout.readline()
        if not line:
            raise OSError(f"the NER process exited (code {child.poll()})")
        return line.decode().strip()

    def _give_up(self, exc: BaseException) -> None:
        log.error("question NER runs in the API process from now on: its own process failed (%s)", exc)
        self._stop()
        from graphrag.nlp import load_spacy

        self._local = load_spacy()


_SHARED: NerProcess | None = None
_SHARED_LOCK = threading.Lock()


def shared() -> NerProcess:
    """The process's one NER child, started at the first call (every app and workspace of a process uses
    it; it exits with the process, whose end closes its input)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None or _SHARED._closed:
            _SHARED = NerProcess()
        return _SHARED


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """The child's loop: a JSON string a line in, its names as a JSON list a line out."""
    from graphrag.nlp import load_spacy, names_in

    started = time.perf_counter()
    nlp = load_spacy()
    names_in(nlp, "Warm up the recogniser before the first question, like Ada Lovelace did.")
    answers.write(READY.encode() + b"\n")
    answers.flush()
    log.debug("NER process ready in %.1f s", time.perf_counter() - started)
    for line in requests:
        answers.write(json.dumps(names_in(nlp, json.loads(line))).encode() + b"\n")
        answers.flush()


if __name__ == "__main__":
    from graphrag.nlp import without_torch

    without_torch()
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # whatever a library prints goes to stderr
    serve(sys.stdin.buffer, answers)
