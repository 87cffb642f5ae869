"""Question NER in a child process (`graphrag.ner_process`, GRAPHRAG_API_NER_PROCESS): the same names as
in-process NER, a child that dies is replaced, and one that cannot start leaves NER in the API process."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from graphrag.ner_process import NerProcess
from graphrag.nlp import load_spacy, names_in

QUESTIONS = ["Who founded Acme Corp. in Paris with Ada Lovelace?", "", "when did the Beatles play at Shea Stadium",
             "Où est né Émile Zola?\nAnd where did he die?", "What did Barack Obama say about NATO in 1999?"]


@pytest.fixture(scope="module")
def child() -> Iterator[NerProcess]:
    process = NerProcess()
    yield process
    process.close()


def test_the_child_finds_the_names_spacy_finds_here(child: NerProcess) -> None:
    nlp = load_spacy()
    assert child.wait_ready()
    for question in QUESTIONS:
        assert child.names(question) == names_in(nlp, question)
    assert child.names(QUESTIONS[0])  # not trivially empty


def test_a_child_that_dies_is_started_again(child: NerProcess) -> None:
    first = child.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    assert child.names(QUESTIONS[0]) == names_in(load_spacy(), QUESTIONS[0])
    assert child.pid not in (None, first)


def test_a_child_that_cannot_start_leaves_ner_in_this_process(monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    def broken(self: NerProcess) -> None:
        self._ready = False
        self._child = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE)

    monkeypatch.setattr(NerProcess, "_start", broken)
    process = NerProcess()
    with caplog.at_level(logging.ERROR, logger="graphrag.ner_process"):
        assert process.names(QUESTIONS[0]) == names_in(load_spacy(), QUESTIONS[0])
    assert "question NER runs in the API process" in caplog.text
    assert process.pid is None and not process.wait_ready()
    process.close()


def test_closing_ends_the_child() -> None:
    process = NerProcess()
    assert process.wait_ready()
    child = process._child
    assert child is not None
    process.close()
    assert child.poll() is not None
    with pytest.raises(RuntimeError, match="closed"):
        process.names("Who is Ada Lovelace?")
