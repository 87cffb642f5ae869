"""Entity paths that explain why the graph ranking reached a passage, as readable triples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from graphrag.retrieval.graph import MENTIONED_IN
from graphrag.types import PathStep


class PathGraph(Protocol):
    """What `explain` reads of a graph (`LocalGraph` has it): node by node, since a question explains
    only its few top passages and naming every node of its graph would cost more than the rest."""

    def entity_positions(self, keys: Sequence[str]) -> set[int]: ...
    def entity_name(self, j: int) -> str: ...
    def chunk_label(self, i: int) -> str: ...
    def chunk_entities(self, i: int) -> list[int]: ...
    def entity_chunks(self, j: int) -> list[int]: ...
    def neighbours(self, j: int) -> dict[int, str]: ...


def explain(graph: PathGraph, seed_keys: list[str], chunk: int) -> list[PathStep]:
    """The shortest (up to two-hop) entity path from a seed to an entity the chunk mentions."""
    seeds = graph.entity_positions(seed_keys)
    targets = graph.chunk_entities(chunk)
    title = graph.chunk_label(chunk)
    name = graph.entity_name

    for t in targets:
        if t in seeds:
            return [PathStep(source=name(t), relation=MENTIONED_IN, target=title)]
    seed_neighbours = {s: graph.neighbours(s) for s in seeds}
    for t in targets:
        for s in seeds:
            relation = seed_neighbours[s].get(t)
            if relation:
                return [PathStep(source=name(s), relation=relation, target=name(t)),
                        PathStep(source=name(t), relation=MENTIONED_IN, target=title)]
    seed_chunks = {s: set(graph.entity_chunks(s)) for s in seeds}
    for t in targets:  # through a passage that names both: seed -> passage -> entity -> this passage
        shared_with = set(graph.entity_chunks(t))
        for s in seeds:
            via = sorted((seed_chunks[s] & shared_with) - {chunk})
            if via:
                middle = graph.chunk_label(via[0])
                return [PathStep(source=name(s), relation=MENTIONED_IN, target=middle),
                        PathStep(source=middle, relation="MENTIONS", target=name(t)),
                        PathStep(source=name(t), relation=MENTIONED_IN, target=title)]
    for t in targets:
        for middle, rel2 in graph.neighbours(t).items():
            for s in seeds:
                rel1 = seed_neighbours[s].get(middle)
                if rel1:
                    return [PathStep(source=name(s), relation=rel1, target=name(middle)),
                            PathStep(source=name(middle), relation=rel2, target=name(t)),
                            PathStep(source=name(t), relation=MENTIONED_IN, target=title)]
    return []


def format_path(path: Sequence[PathStep]) -> str:
    """'(A) -[RELATED]-> (B) -[MENTIONED_IN]-> (Title)': one readable line per path."""
    if not path:
        return ""
    parts = [f"({path[0].source})"]
    for step in path:
        parts.append(f"-[{step.relation}]-> ({step.target})")
    return " ".join(parts)
