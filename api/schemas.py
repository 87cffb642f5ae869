"""The HTTP contract: request and response models, kept apart from `graphrag.types` so the wire
format can stay stable while the library's records evolve. Examples feed the OpenAPI document."""

from __future__ import annotations

import hashlib
import json
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.keys import Principal, Scope
from graphrag.answer import snippet
from graphrag.prompts import numbered
from graphrag.types import Answer, PathStep, RetrievalResult, SourceDocument
from schema.workspaces import NAME_PATTERN, NAME_RULE

_Q = "Who is the spouse of the director of the film Nightfall Harbour?"
DEFAULT_HOPS = 2  # a question's graph reach when its request does not say (the CLI answering in process too)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class _In(BaseModel):
    """Request bodies: strict types (`"5"` or `true` is not a number, `"true"` is not a boolean: a client
    sending them has a bug worth hearing about) and no NUL character anywhere (C strings, logs and the
    database's text handling all treat it differently)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("must not contain a NUL character (\\u0000)")
        return value


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


# --- errors -----------------------------------------------------------------------------------------

class FieldError(_Out):
    field: str = Field(examples=["body.question"])
    message: str = Field(examples=["String should have at least 1 character"])


class ErrorDetail(_Out):
    code: str = Field(examples=["validation_error"])
    message: str
    fields: list[FieldError] | None = None


class ErrorResponse(_Out):
    error: ErrorDetail
    request_id: str = Field(examples=["4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a99"])


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer with, all in the one envelope."""
    text = {401: "Missing or invalid API key", 403: "The key lacks the needed scope", 404: "Not found",
            409: "Conflict", 413: "Request body too large", 422: "Invalid input, one message per field",
            503: "Database unreachable (Retry-After says when to retry)"}
    return {s: {"model": ErrorResponse, "description": text.get(s, "Error")} for s in statuses}


# --- ask / retrieve ---------------------------------------------------------------------------------

class RetrieveRequest(_In):
    question: str = Field(min_length=1, max_length=2000, description="The question, in natural language")
    top_k: int = Field(5, ge=1, le=50, description="Passages to return")
    hops: int = Field(DEFAULT_HOPS, ge=1, le=3, description="Entity hops the graph expansion may take")

    @field_validator("question")
    @classmethod
    def _has_words(cls, value: str) -> str:
        if not any(ch.isalnum() for ch in value):
            raise ValueError("must contain at least one letter or digit")
        return value

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={
        "examples": [{"question": _Q, "top_k": 5, "hops": 2}]})


class AskRequest(RetrieveRequest):
    temperature: float | None = Field(None, ge=0.0, le=2.0,
                                      description="LLM sampling temperature (llm mode); unset = the configured one")
    stream: bool = Field(False, description="Answer with server-sent events: sources, tokens, final")

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={
        "examples": [{"question": _Q, "top_k": 5, "hops": 2, "temperature": 0.1, "stream": False}]})


class PathStepOut(_Out):
    source: str = Field(examples=["Nightfall Harbour"])
    relation: str = Field(examples=["directed_by"])
    target: str = Field(examples=["Mara Lindqvist"])


class Source(_Out):
    """A retrieved passage, numbered as the answer cites it."""

    n: int = Field(examples=[1])
    document_id: str = Field(examples=["doc-3f2a"])
    chunk_id: str = Field(examples=["doc-3f2a#0"])
    title: str = Field(examples=["Nightfall Harbour"])
    snippet: str = Field(examples=["Nightfall Harbour is a 1998 drama film directed by Mara Lindqvist..."])
    score: float = Field(examples=[0.82])
    channels: list[str] = Field(default_factory=list, examples=[["dense", "graph"]])


class Citation(_Out):
    n: int = Field(examples=[1])
    document_id: str
    chunk_id: str
    title: str
    snippet: str
    score: float


class EvidenceNode(_Out):
    """An entity or a passage of the evidence graph."""

    id: str = Field(description="Stable id: `e:<entity key>` for entities, `p:<chunk id>` for ranked passages, "
                                "`t:<title>` for a passage a path went through that is not among the sources",
                    examples=["e:marie curie"])
    kind: Literal["seed", "entity", "passage"] = Field(
        description="`seed`: an entity the question was linked to; `entity`: one on an explaining path or "
                    "named by a passage's title; "
                    "`passage`: a retrieved passage (or one a path went through)", examples=["seed"])
    label: str = Field(description="Entity name or passage title", examples=["Marie Curie"])
    key: str | None = Field(None, description="Entity key, for `GET /v1/graph/entities/{key}` (entities only)",
                            examples=["marie curie"])
    n: int | None = Field(None, description="The passage's source number, as the answer cites it `[n]`")
    chunk_id: str | None = None
    document_id: str | None = None
    score: float | None = None


class EvidenceEdge(_Out):
    source: str = Field(description="A node id", examples=["e:marie curie"])
    target: str = Field(description="A node id", examples=["p:marie_curie.md#0"])
    relation: str = Field(description="A path's relation (`RELATED`, `SAME_AS`, `MENTIONED_IN`: entity named in "
                                      "passage, `MENTIONS`: passage names entity); `ABOUT`: the entity the passage's "
                                      "title names; `NAMES`: the passage's text names the entity",
                          examples=["MENTIONED_IN"])


class EvidenceGraph(_Out):
    """The evidence of one answer as a graph: seeds, ranked passages, and the paths that explain them."""

    nodes: list[EvidenceNode]
    edges: list[EvidenceEdge]

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [{
        "nodes": [{"id": "e:marie curie", "kind": "seed", "label": "Marie Curie", "key": "marie curie"},
                  {"id": "e:warsaw", "kind": "entity", "label": "Warsaw", "key": "warsaw"},
                  {"id": "p:warsaw.md#0", "kind": "passage", "label": "Warsaw", "n": 1,
                   "chunk_id": "warsaw.md#0", "document_id": "warsaw.md", "score": 0.41}],
        "edges": [{"source": "e:marie curie", "target": "e:warsaw", "relation": "RELATED"},
                  {"source": "e:marie curie", "target": "p:warsaw.md#0", "relation": "MENTIONED_IN"},
                  {"source": "p:warsaw.md#0", "target": "e:warsaw", "relation": "ABOUT"}]}]})


_GRAPH_DESCRIPTION = ("The evidence as a graph (nodes and edges of the seeds, passages and paths), for drawing; "
                      "null from servers that predate it")
ANSWERABLE_DESCRIPTION = ("false: nothing in the documents answers the question (the sources are only the "
                          "closest passages); true: they fit it, or the fit could not be measured")
RELEVANCE_DESCRIPTION = ("How well the retrieved passages fit the question: the best passage's cosine similarity "
                         "plus up to 0.75 for the question's names, words and a title found in them; below the "
                         "service's `answer_min_relevance` the question counts as unanswerable. Null when "
                         "it could not be measured")


class RetrieveResponse(_Out):
    question: str
    sources: list[Source]
    paths: list[list[PathStepOut]] = Field(default_factory=list, description="Entity paths that linked sources")
    timings_ms: dict[str, float] = Field(default_factory=dict, examples=[{"embed": 12.1, "retrieve": 31.4}])
    graph: EvidenceGraph | None = Field(None, description=_GRAPH_DESCRIPTION)
    answerable: bool = Field(True, description=ANSWERABLE_DESCRIPTION)
    relevance: float | None = Field(None, description=RELEVANCE_DESCRIPTION, examples=[1.21])


class AskResponse(_Out):
    question: str
    answer: str = Field(examples=["Mara Lindqvist is married to Jonas Berg [1][2]."],
                        description="The answer; when `answerable` is false it says that nothing in the documents "
                                    "answers the question and names the closest passages")
    mode: Literal["llm", "extractive"]
    citations: list[Citation] = Field(description="The passages the answer cites; when `answerable` is false, "
                                                  "the closest passages (not evidence)")
    paths: list[list[PathStepOut]] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict,
                                         examples=[{"retrieve": 31.4, "answer": 210.0, "total": 242.9}])
    graph: EvidenceGraph | None = Field(None, description=_GRAPH_DESCRIPTION)
    answerable: bool = Field(True, description=ANSWERABLE_DESCRIPTION)
    relevance: float | None = Field(None, description=RELEVANCE_DESCRIPTION, examples=[1.21])


def paths_out(paths: list[list[PathStep]]) -> list[list[PathStepOut]]:
    """Entity paths on the wire (REST and MCP alike)."""
    return [[PathStepOut(source=s.source, relation=s.relation, target=s.target) for s in path] for path in paths]


def sources_of(result: RetrievalResult) -> list[Source]:
    """Passages numbered 1..k in rank order: the numbering the answer's `[n]` citations use."""
    out = []
    for rank, p in numbered(result.passages):
        out.append(Source(n=rank, document_id=p.document_id, chunk_id=p.chunk_id,
                          title=p.title, snippet=snippet(p.text), score=round(float(p.score), 6),
                          channels=list(p.channels)))
    return out


def fit_of(result: RetrievalResult) -> dict[str, Any]:
    """`answerable` and `relevance` of a retrieval, as every face reports them (unjudged: answerable)."""
    judged = result.relevance
    return {"answerable": judged is None or judged.answerable,
            "relevance": round(judged.score, 4) if judged is not None and judged.score is not None else None}


def retrieve_response(result: RetrievalResult, timings_ms: dict[str, float],
                      graph: EvidenceGraph | None = None) -> RetrieveResponse:
    return RetrieveResponse(question=result.question, sources=sources_of(result), paths=paths_out(result.paths),
                            timings_ms=timings_ms, graph=graph, **fit_of(result))


def ask_response(answer: Answer, timings_ms: dict[str, float], graph: EvidenceGraph | None = None) -> AskResponse:
    return AskResponse(
        question=answer.question, answer=answer.answer, mode=answer.mode,
        citations=[Citation(n=c.n, document_id=c.document_id, chunk_id=c.chunk_id, title=c.title,
                            snippet=c.snippet, score=round(float(c.score), 6)) for c in answer.citations],
        paths=paths_out(answer.paths), timings_ms=timings_ms, graph=graph, answerable=answer.answerable,
        relevance=round(answer.relevance, 4) if answer.relevance is not None else None)


# --- documents --------------------------------------------------------------------------------------

class DocumentIn(_In):
    """A document given inline; its id defaults to a hash of its content (re-posting is idempotent)."""

    id: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:@/-]+$")
    title: str = Field("", max_length=500)
    text: str = Field(min_length=1, description="Plain text or Markdown")
    source: str | None = Field(None, max_length=1000, description="Where it came from (a URL or a name)")
    metadata: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @field_validator("text")
    @classmethod
    def _has_words(cls, value: str) -> str:
        if not any(ch.isalnum() for ch in value):
            raise ValueError("must contain at least one letter or digit")
        return value

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [{
        "title": "Nightfall Harbour",
        "text": "Nightfall Harbour is a 1998 drama film directed by Mara Lindqvist.",
        "source": "https://example.org/films/nightfall-harbour",
        "metadata": {"lang": "en"}}]})


class EntityRef(_Out):
    key: str = Field(examples=["warsaw"])
    name: str = Field(examples=["Warsaw"])
    type: str = Field("UNKNOWN", examples=["GPE"])


class ChunkOut(_Out):
    """One stored chunk of a document, with the entities it mentions."""

    id: str = Field(examples=["doc-3f2a#0"])
    ordinal: int = Field(examples=[0])
    text: str
    entities: list[str] = Field(default_factory=list, description="Keys of the entities this chunk mentions")


class DocumentOut(_Out):
    id: str = Field(examples=["doc-3f2a"])
    title: str = ""
    source: str = ""
    chunks: int | None = Field(None, description="Chunks stored for it")
    ingested_at: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    chunk_list: list[ChunkOut] | None = Field(None, description="Its chunks in order (only with `include=chunks`)")
    entities: list[EntityRef] | None = Field(None, description="The entities its chunks mention, most mentioned "
                                                               "first (only with `include=chunks`)")


class DocumentPage(_Out):
    items: list[DocumentOut]
    total: int
    offset: int
    limit: int


class IngestSummary(_Out):
    document_ids: list[str] = Field(default_factory=list, description="Documents written or already current")
    documents: int = 0
    chunks: int = 0
    entities: int = 0
    relations: int = 0
    skipped: int = Field(0, description="Documents already stored unchanged")
    failed: list[str] = Field(default_factory=list, description="What could not be ingested (a file, or one "
                                                                  "record of a JSON Lines file), with why")
    inputs: int = Field(0, description="Input files read or refused (a JSON Lines file is one input)")
    inputs_failed: int = Field(0, description="Input files of which nothing was ingested")
    seconds: float = 0.0

    def add(self, other: IngestSummary) -> None:
        """Add `other` (a job's next file) to this summary: counters and seconds summed, lists extended.

        Every field is taken from the model's own list of fields, by its type, so a field added later is
        totalled too (or refused here, when it is of a kind with no rule yet), never silently dropped.
        """
        for name, field in type(self).model_fields.items():
            mine, theirs = getattr(self, name), getattr(other, name)
            if field.annotation is int:
                setattr(self, name, mine + theirs)
            elif field.annotation is float:
                setattr(self, name, round(mine + theirs, 3))
            elif isinstance(mine, list):
                mine.extend(theirs)
            else:
                raise TypeError(f"IngestSummary.add has no rule for the field {name!r} ({field.annotation})")


class DocumentCreated(_Out):
    documents: list[DocumentOut]
    summary: IngestSummary


class Deleted(_Out):
    id: str
    deleted: bool = True


# --- jobs -------------------------------------------------------------------------------------------

JobState = Literal["queued", "running", "succeeded", "failed"]


class JobFromPaths(_In):
    paths: list[str] = Field(min_length=1, max_length=10_000,
                             description="Files or folders, relative to (or inside) the allowed ingest folder")

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True,
                              json_schema_extra={"examples": [{"paths": ["corpus/films"]}]})


class JobProgress(_Out):
    done: int = Field(examples=[12])
    total: int = Field(examples=[40])
    fraction: float = Field(examples=[0.3])


class JobOut(_Out):
    id: str = Field(examples=["job-9c1e4a2b7d3f"])
    state: JobState
    progress: JobProgress
    created_at: str
    updated_at: str
    error: str | None = None
    summary: IngestSummary | None = None


class JobList(_Out):
    items: list[JobOut]


# --- graph ------------------------------------------------------------------------------------------

class GraphNode(_Out):
    key: str = Field(examples=["mara lindqvist"])
    name: str = Field(examples=["Mara Lindqvist"])
    type: str = Field(examples=["PERSON"])
    hops: int = Field(examples=[0])


class GraphEdge(_Out):
    source: str
    target: str
    type: str = Field(examples=["RELATED"])
    weight: float | None = None


class Neighbourhood(_Out):
    key: str
    hops: int
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    truncated: bool = Field(False, description="True when the node limit cut the neighbourhood short")


# --- health -----------------------------------------------------------------------------------------

class Health(_Out):
    status: Literal["ok"] = "ok"


class Check(_Out):
    ok: bool
    detail: str = ""


class Readiness(_Out):
    ready: bool
    checks: dict[str, Check]


# --- workspaces -------------------------------------------------------------------------------------

class WorkspaceIn(_In):
    name: str = Field(pattern=NAME_PATTERN, description=f"The new workspace's name: {NAME_RULE}",
                      examples=["acme"])


class WorkspaceOut(_Out):
    name: str
    documents: int | None = Field(None, description="Documents in it (only when one workspace is asked for)")


class WorkspaceList(_Out):
    items: list[WorkspaceOut] = Field(description="The workspaces this key reaches, `default` first")
    scope: Literal["read", "admin", "global"] | None = Field(
        None, description="The asking key's scope (keyless on loopback: `global`), so a client offers only what "
                          "the key may do: `read` asks and reads, `admin` also ingests and deletes, `global` also "
                          "creates and deletes workspaces")


class WorkspaceDelete(_In):
    confirm: str = Field(description="The workspace's name again: deleting drops its database and every "
                                     "document, chunk, entity and job in it", examples=["acme"])


# --- documents in and out (REST and MCP) ------------------------------------------------------------

def shown_source(source: str, principal: Principal | None) -> str:
    """`source` as a client may see it: a server's absolute file path (documents ingested before the
    API stored relative ones, or by the CLI) is cut to the file's name unless the client is admin."""
    if principal is not None and principal.allows(Scope.admin):
        return source
    for flavour in (PurePosixPath, PureWindowsPath):
        path = flavour(source)
        if path.is_absolute() and "://" not in source:
            return path.name
    return source


def document_out(row: dict[str, Any], principal: Principal | None = None) -> DocumentOut:
    metadata = _metadata(row.get("metadata_json"))
    chunks = row.get("chunks", row.get("chunk_count"))
    return DocumentOut(id=str(row["id"]), title=row.get("title") or "",
                       source=shown_source(str(row.get("source") or ""), principal),
                       chunks=int(chunks) if chunks is not None else None,
                       ingested_at=str(row["ingested_at"]) if row.get("ingested_at") else None,
                       metadata=metadata or {})


def _metadata(stored: Any) -> dict[str, Any]:
    """A document's metadata, stored as JSON text (`Document.metadata_json`; a map cannot be a Cypher
    property value); an unreadable value shows as empty rather than failing the request."""
    if not stored:
        return {}
    try:
        value = json.loads(stored)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def source_document(body: DocumentIn) -> SourceDocument:
    """Without an id, the id is a hash of title and text: posting the same document twice is a no-op."""
    doc_id = body.id or "doc-" + hashlib.sha256(f"{body.title}\x00{body.text}".encode()).hexdigest()[:16]
    return SourceDocument(id=doc_id, source=body.source or f"api:{doc_id}", title=body.title or doc_id,
                          text=body.text, metadata=dict(body.metadata))
