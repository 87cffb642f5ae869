"""Question NER as the API runs it: each request in a fresh copy of the event loop's context."""

import contextvars

import pytest
import thinc.backends

from graphrag.nlp import load_spacy, names_in


def test_ner_in_a_fresh_context_uses_the_pipes_backend_without_a_registry_lookup(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """thinc keeps its current backend in a context variable; unset (as in every request's copy of the
    event loop's context) it used to look the CPU backend up in the package registry at each call."""
    nlp = load_spacy()
    lookups: list[str] = []
    real = thinc.backends.get_ops

    def counted(name: str, **kwargs: object) -> object:
        lookups.append(name)
        return real(name, **kwargs)

    monkeypatch.setattr(thinc.backends, "get_ops", counted)
    question = "Who directed the film that Mirela Vantosh starred in, in Paris?"
    names = [contextvars.Context().run(names_in, nlp, question) for _ in range(3)]
    assert names[0] == names[1] == names[2] and "Mirela Vantosh" in names[0]
    assert lookups == []
