"""Entity resolution beyond the normalised key: near-duplicate names linked by embedding (SAME_AS).

Exact spellings already merge on `graphrag.normalize.entity_key` ("ACME Corp." = "acme corp").
What the key cannot merge ("Acme Corporation" / "ACME Corp", "J. R. R. Tolkien" / "Tolkien") gets a
SAME_AS edge when the entity embeddings' cosine similarity reaches a threshold (an entity's vector is its
key's, so it does not depend on which spelling the entity shows: see `graphrag.store.EntityRecord`).

Two ways to find the neighbours, with the same result (pairs >= threshold, at most k neighbours
per entity):
- `ExactLinker`: within one job, an exact cosine search in memory over the vectors the job
  embedded. Used when the graph had no entities before the job (a first, bulk load), where a
  server-side index lookup per entity was measured as the largest cost after embedding itself.
- `GraphStore.link_similar_entities`: SQL `vectorNeighbors('Entity[embedding]', ...)` against
  the whole graph; used when the job adds to existing entities (daily runs), and for the
  closing pass of a resumed job.
"""

from __future__ import annotations

import numpy as np


class ExactLinker:
    """Exact nearest names among the entities embedded so far in this job.

    Args:
        threshold: cosine similarity for a SAME_AS pair.
        k: neighbours considered per entity (like `vectorNeighbors`' k).
        dimension: vector size.
    """

    def __init__(self, threshold: float, k: int, dimension: int):
        self.threshold = threshold
        self.k = k
        self._keys: list[str] = []
        self._vectors = np.zeros((0, dimension), dtype=np.float32)

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def keys(self) -> list[str]:
        """The keys added so far, in order."""
        return list(self._keys)

    def add(self, keys: list[str], vectors: np.ndarray) -> dict[tuple[str, str], float]:
        """Add a batch of entities and return the SAME_AS pairs it creates (smaller key first).

        Each new entity is compared with every entity added before it and with its batch mates;
        its k most similar at or above the threshold become pairs. Vectors are unit norm, so the
        dot product is the cosine similarity.
        """
        if not keys:
            return {}
        vectors = np.asarray(vectors, dtype=np.float32)
        start = len(self._keys)
        self._keys.extend(keys)
        self._vectors = np.vstack([self._vectors, vectors])
        pairs: dict[tuple[str, str], float] = {}
        for offset in range(0, len(keys), 512):
            block = vectors[offset:offset + 512]
            sims = block @ self._vectors.T
            for row in range(block.shape[0]):
                own = start + offset + row
                sims[row, own] = -1.0  # not itself
                candidates = np.flatnonzero(sims[row] >= self.threshold)
                if candidates.size == 0:
                    continue
                best = candidates[np.argsort(-sims[row, candidates], kind="stable")[: self.k]]
                for other in best:
                    a, b = sorted((self._keys[own], self._keys[int(other)]))
                    if a != b:
                        pairs[(a, b)] = max(pairs.get((a, b), 0.0), float(sims[row, other]))
        return pairs
