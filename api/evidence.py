"""The evidence graph of one retrieval: what the web console draws next to an answer.

Built from the public fields of `RetrievalResult` only (passages, paths, seeds), so it survives any
change to how retrieval ranks: the question's seed entities, the ranked passages (numbered as the
answer cites them), the entities and relations of the paths that explain them, the entity each
passage's title names (ingestion links every chunk to it), and which of those entities each
passage's text names: how a question about Marie Curie reaches the Warsaw passage through the
Curie passage that names Warsaw. Node ids are stable across requests (`e:<entity key>`,
`p:<chunk id>`), so a client can merge the neighbourhood of an entity (`/v1/graph/entities/{key}`,
whose node keys are the same entity keys) into the drawing.
"""

from __future__ import annotations

import re
from functools import lru_cache

from api.schemas import EvidenceEdge, EvidenceGraph, EvidenceNode
from graphrag.normalize import entity_key, strip_title_qualifier
from graphrag.prompts import numbered
from graphrag.types import Passage, RetrievalResult

# Path relations that join an entity and a passage (see `graphrag.retrieval`): the entity is named in
# the passage whose title is the target, or the passage (source, a title) names the entity (target).
MENTIONED_IN = "MENTIONED_IN"
MENTIONS = "MENTIONS"
# The name of an entity found in a passage's text (whole words, case-insensitive).
NAMES = "NAMES"
# A passage and the entity its title names.
ABOUT = "ABOUT"
# Names and titles come back with question after question: their keys are worked out once (a few
# regular expressions each; 2 % of the API's GIL time at 8 clients before).
_key = lru_cache(maxsize=1 << 15)(entity_key)
_title_name = lru_cache(maxsize=1 << 15)(strip_title_qualifier)


def _entity_id(key: str) -> str:
    return f"e:{key}"


def _passage_id(chunk_id: str) -> str:
    return f"p:{chunk_id}"


class _Name:
    """Finds one entity's name (two characters or more) in passage texts as whole words, case-insensitive.

    Most names are absent from most passages: for an ASCII name in an ASCII text, a plain substring
    test of the lower-cased strings rules them out first (exact there: no ASCII letter has another case
    partner in ASCII), and the pattern is compiled only for a text that passes it. Compiling a pattern
    per (passage, entity) pair was 3-8% of the API's Python time under load.
    """

    def __init__(self, name: str):
        self.name = name.strip()
        self.needle = self.name.lower() if self.name.isascii() else None
        self._pattern: re.Pattern[str] | None = None

    def found_in(self, text: str, lowered: str | None) -> bool:
        """Whether `text` names it; `lowered` is `text.lower()` when `text` is ASCII, else None."""
        if self.needle is not None and lowered is not None and self.needle not in lowered:
            return False
        if self._pattern is None:
            self._pattern = re.compile(rf"(?<!\w){re.escape(self.name)}(?!\w)", flags=re.IGNORECASE)
        return self._pattern.search(text) is not None


class _Builder:
    def __init__(self) -> None:
        self.nodes: dict[str, EvidenceNode] = {}
        self.edges: dict[tuple[str, str, str], EvidenceEdge] = {}

    def entity(self, name: str, *, key: str | None = None, seed: bool = False) -> str | None:
        key = key or _key(name)
        if not key:
            return None
        node_id = _entity_id(key)
        known = self.nodes.get(node_id)
        if known is None:
            self.nodes[node_id] = EvidenceNode(id=node_id, kind="seed" if seed else "entity", label=name, key=key)
        elif seed and known.kind != "seed":
            known.kind = "seed"
        return node_id

    def passage(self, n: int | None, passage: Passage | None, title: str) -> str:
        if passage is None:  # a passage a path went through that is not among the ranked ones
            node_id = f"t:{title}"
            self.nodes.setdefault(node_id, EvidenceNode(id=node_id, kind="passage", label=title))
            return node_id
        node_id = _passage_id(passage.chunk_id)
        self.nodes.setdefault(node_id, EvidenceNode(
            id=node_id, kind="passage", label=passage.title or passage.chunk_id, n=n, chunk_id=passage.chunk_id,
            document_id=passage.document_id, score=round(float(passage.score), 6)))
        return node_id

    def edge(self, source: str | None, target: str | None, relation: str) -> None:
        if source and target and source != target:
            self.edges.setdefault((source, target, relation), EvidenceEdge(source=source, target=target,
                                                                           relation=relation))


def evidence_graph(result: RetrievalResult) -> EvidenceGraph:
    """Seeds, ranked passages, path entities and relations, title entities (`ABOUT`), and passage ->
    entity `NAMES` edges.

    A path's `MENTIONED_IN` target is a passage title: it is matched to the best-ranked passage with
    that title not yet explained by an earlier path (paths come in passage order), else to any
    passage with that title, else drawn as an unranked passage node.
    """
    b = _Builder()
    ranked = numbered(result.passages)
    for seed in result.seeds:
        b.entity(seed.name or seed.key, key=seed.key, seed=True)
    for n, passage in ranked:
        b.passage(n, passage, passage.title)

    explained: set[str] = set()

    def by_title(title: str, *, claim: bool) -> str:
        same = [(n, p) for n, p in ranked if (p.title or p.chunk_id) == title]
        fresh = [(n, p) for n, p in same if p.chunk_id not in explained]
        n, passage = (fresh or same or [(None, None)])[0]
        if passage is not None and claim:
            explained.add(passage.chunk_id)
        return b.passage(n, passage, title)

    for path in result.paths:
        for step in path:
            if step.relation == MENTIONED_IN:
                b.edge(b.entity(step.source), by_title(step.target, claim=step is path[-1]), MENTIONED_IN)
            elif step.relation == MENTIONS:
                b.edge(by_title(step.source, claim=False), b.entity(step.target), MENTIONS)
            else:
                b.edge(b.entity(step.source), b.entity(step.target), step.relation)

    for _, passage in ranked:
        if passage.title:
            b.edge(_passage_id(passage.chunk_id), b.entity(_title_name(passage.title)), ABOUT)

    # a one-character name never names anything
    entities = [(node.id, _Name(node.label)) for node in b.nodes.values()
                if node.kind in ("seed", "entity") and len(node.label.strip()) >= 2]
    for _, passage in ranked:
        pid = _passage_id(passage.chunk_id)
        lowered = passage.text.lower() if passage.text.isascii() else None
        for node_id, name in entities:
            linked = (node_id, pid, MENTIONED_IN) in b.edges or (pid, node_id, ABOUT) in b.edges
            if not linked and name.found_in(passage.text, lowered):
                b.edge(pid, node_id, NAMES)
    return EvidenceGraph(nodes=list(b.nodes.values()), edges=list(b.edges.values()))
