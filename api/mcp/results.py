"""The MCP tools' results: pydantic models that are each tool's output schema and structured content.

The REST wire models (`api.schemas`) serve where the two faces return the same thing (a document, a
neighbourhood, a citation); these are the shapes only agents get: whole passages with a resource URI,
a page with its `next_offset`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import ANSWERABLE_DESCRIPTION, RELEVANCE_DESCRIPTION, Citation, DocumentOut, PathStepOut
from graphrag.prompts import numbered
from graphrag.types import RetrievalResult

DOCUMENT_URI = "graphrag://documents/{+document_id}"


class _Result(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PassageOut(_Result):
    """A retrieved passage in full, numbered by rank (the numbering an answer's `[n]` uses)."""

    n: int = Field(description="Rank, 1 = best; `[n]` in an answer built from these passages")
    document_id: str
    chunk_id: str
    title: str
    text: str = Field(description="The whole passage")
    score: float
    channels: list[str] = Field(default_factory=list, description="Which retrievers found it (dense, keyword, "
                                                                     "graph, ppr)")
    document_uri: str = Field(description="Resource URI of the whole document")


class RetrieveResult(_Result):
    question: str
    passages: list[PassageOut]
    paths: list[list[PathStepOut]] = Field(default_factory=list,
                                           description="Entity paths (source -relation-> target) that link the "
                                                       "question's entities to the passages: the multi-hop reasoning")
    answerable: bool = Field(True, description=ANSWERABLE_DESCRIPTION)
    relevance: float | None = Field(None, description=RELEVANCE_DESCRIPTION)


class AskResult(_Result):
    question: str
    answer: str = Field(description="The answer; `[n]` markers refer to `citations[].n`")
    mode: Literal["llm", "extractive"] = Field(description="llm: written by the language model; extractive: the "
                                                           "best sentences of the passages, quoted")
    citations: list[Citation]
    paths: list[list[PathStepOut]] = Field(default_factory=list)
    answerable: bool = Field(True, description=ANSWERABLE_DESCRIPTION + "; then `answer` says so and `citations` "
                                               "are the closest passages, not evidence")
    relevance: float | None = Field(None, description=RELEVANCE_DESCRIPTION)


class DocumentList(_Result):
    items: list[DocumentOut]
    total: int = Field(description="Documents stored in all")
    offset: int
    limit: int
    next_offset: int | None = Field(description="Pass as `offset` for the next page; null on the last page")


class ChunkOut(_Result):
    id: str
    ordinal: int
    text: str


class DocumentDeleted(_Result):
    id: str
    deleted: bool = True



def document_uri(document_id: str) -> str:
    """The resource URI of a stored document (`DOCUMENT_URI` filled in)."""
    return DOCUMENT_URI.replace("{+document_id}", document_id)


def passages_of(result: RetrievalResult) -> list[PassageOut]:
    """The retrieved passages whole, numbered as an answer from them cites them."""
    return [PassageOut(n=n, document_id=p.document_id, chunk_id=p.chunk_id, title=p.title, text=p.text,
                       score=round(float(p.score), 6), channels=list(p.channels),
                       document_uri=document_uri(p.document_id))
            for n, p in numbered(result.passages)]
