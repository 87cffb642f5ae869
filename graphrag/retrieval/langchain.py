"""The retriever as a langchain-core `BaseRetriever`, for chains that expect one."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from graphrag.prompts import numbered
from graphrag.retrieval.base import Ranking


class GraphRAGRetriever(BaseRetriever):
    """Wraps any `Retriever` (e.g. `HybridRetriever`): one langchain `Document` per ranked passage.

    Metadata carries the citation marker `n` (the passage's rank, as answers cite it), chunk and document
    ids, title, score, the channels that found the passage, and the readable entity paths.

    Example:
        >>> lc = GraphRAGRetriever(retriever=HybridRetriever(db, embedder), top_k=5)  # doctest: +SKIP
        >>> lc.invoke("Who directed the film that won ...?")[0].metadata["chunk_id"]  # doctest: +SKIP
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Any = Field(description="An object with retrieve(question, *, top_k) -> RetrievalResult")
    top_k: int = Field(8, ge=1)
    ranking: Ranking | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        kwargs: dict[str, Any] = {"top_k": self.top_k}
        if self.ranking is not None:
            kwargs["ranking"] = self.ranking
        result = self.retriever.retrieve(query, **kwargs)
        return [
            Document(
                page_content=p.text,
                id=p.chunk_id,
                metadata={
                    "n": n,
                    "chunk_id": p.chunk_id,
                    "document_id": p.document_id,
                    "title": p.title,
                    "score": p.score,
                    "channels": list(p.channels),
                    "paths": [[s.model_dump() for s in path] for path in result.paths
                              if path and path[-1].target == p.title],
                },
            )
            for n, p in numbered(result.passages)
        ]
