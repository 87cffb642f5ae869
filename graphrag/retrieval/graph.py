"""Graph channel: a parameterised multi-hop Cypher walk from the question's seed entities.

The walk runs hop by hop (1 to 3, default 2) over co-occurrence (entities named in one sentence,
weighted by the number of chunks that do, read from `MENTIONS.cooc`; reported as RELATED) and
SAME_AS (synonym, weighted by similarity) edges in either direction. Each hop is
one Cypher statement over the current frontier (`$keys`); each entity keeps only its
`graph_per_source` strongest edges and the hop keeps its `graph_beam` best new entities, so hub
entities cannot flood the walk. An entity reached at distance d scores

    score(seed) * decay^d * prod(edge factors),  edge factor = w / (w + 1) (RELATED), similarity (SAME_AS)

(the best path wins). A chunk scores the sum, over the reached entities it mentions, of the
entity's score divided by 1 + ln(mentions): a passage that mentions a rare reached name is more
telling than one that mentions a common one. Every reached chunk keeps the entity path that led
to it, as readable triples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from graphrag import queries
from graphrag.arcadedb import ArcadeDB
from graphrag.retrieval.base import ChannelHit, RetrievalConfig
from graphrag.types import PathStep, SeedEntity

MENTIONED_IN = "MENTIONED_IN"


@dataclass
class _Reached:
    key: str
    name: str
    score: float
    hops: int
    parent: str | None = None
    relation: str = ""
    mentions: int = 0
    chunks: list[str] = field(default_factory=list)


def edge_factor(relation: str, weight: float) -> float:
    if relation == "SAME_AS":
        return max(0.0, min(1.0, weight))
    return weight / (weight + 1.0) if weight > 0 else 0.5


class GraphChannel:
    """Chunks reached from seed entities through the entity graph, found with Cypher only."""

    name = "graph"

    def __init__(self, db: ArcadeDB, config: RetrievalConfig | None = None):
        self.db = db
        self.config = config or RetrievalConfig()

    def walk(self, seeds: list[SeedEntity], hops: int | None = None) -> dict[str, _Reached]:
        """Entities reached within `hops` of the seeds, each with its best score and parent."""
        cfg = self.config
        hops = cfg.graph_hops if hops is None else hops
        if not 1 <= hops <= 3:
            raise ValueError("graph hops must be 1, 2 or 3")
        reached: dict[str, _Reached] = {}
        for seed in seeds:
            if seed.key not in reached or reached[seed.key].score < seed.score:
                reached[seed.key] = _Reached(seed.key, seed.name, seed.score, 0, mentions=seed.mentions)
        frontier = [k for k, r in reached.items() if r.mentions <= cfg.graph_max_mentions] or list(reached)
        for hop in range(1, hops + 1):
            if not frontier:
                break
            params = {"keys": frontier, "per_source": cfg.graph_per_source, "cap": cfg.graph_max_mentions}
            rows = [*self.db.cypher(queries.ENTITY_COOCCURRING, params),
                    *self.db.cypher(queries.SAME_AS_NEIGHBOURS, {"keys": frontier})]
            found: dict[str, _Reached] = {}
            for nb in rows:
                source = reached[nb["source"]]
                key = nb["key"]
                if key in reached:
                    continue  # reached at a shorter distance already
                score = source.score * cfg.graph_decay * edge_factor(nb["rel"], float(nb.get("weight") or 0))
                if key not in found or found[key].score < score:
                    found[key] = _Reached(key, nb.get("name") or key, score, hop, source.key, nb["rel"])
            best = sorted(found.values(), key=lambda r: -r.score)[: cfg.graph_beam]
            for r in best:
                reached[r.key] = r
            frontier = [r.key for r in best]
        return reached

    def search(self, seeds: list[SeedEntity], k: int, hops: int | None = None) -> list[ChannelHit]:
        if not seeds:
            return []
        cfg = self.config
        reached = self.walk(seeds, hops)
        rows = self.db.cypher(queries.CHUNKS_MENTIONING, {"keys": list(reached)})
        scores: dict[str, float] = {}
        best_entity: dict[str, tuple[float, str]] = {}
        for row in rows:
            entity = reached[row["key"]]
            chunks = list(dict.fromkeys(row.get("chunks") or []))
            entity.mentions = len(chunks)
            if entity.hops > 0 and entity.mentions > cfg.graph_max_mentions:
                continue  # a hub reached by the walk points everywhere: no evidence for any passage
            contribution = entity.score / (1.0 + math.log(max(entity.mentions, 1)))
            for chunk_id in chunks:
                scores[chunk_id] = scores.get(chunk_id, 0.0) + contribution
                if chunk_id not in best_entity or best_entity[chunk_id][0] < contribution:
                    best_entity[chunk_id] = (contribution, entity.key)
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]
        return [ChannelHit(chunk_id, score, path=[
            *path_to(reached, best_entity[chunk_id][1]),
            # the chunk's title is not read here: the retriever swaps it in for the id
            PathStep(source=reached[best_entity[chunk_id][1]].name, relation=MENTIONED_IN, target=chunk_id),
        ]) for chunk_id, score in ranked]


def path_to(reached: dict[str, _Reached], key: str) -> list[PathStep]:
    """The seed-to-entity path of a reached entity, as (source) -[relation]-> (target) triples."""
    steps: list[PathStep] = []
    node = reached[key]
    while node.parent is not None:
        parent = reached[node.parent]
        steps.append(PathStep(source=parent.name, relation=node.relation, target=node.name))
        node = parent
    steps.reverse()
    return steps
