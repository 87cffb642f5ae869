"""Documents: small synchronous ingest (JSON or upload), paged list, get, delete."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import PurePosixPath, PureWindowsPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from api.auth import AdminPrincipal, ReadPrincipal
from api.deps import DocumentsDep, IngestorDep, MetricsDep, SettingsDep, WorkspaceDep
from api.errors import ApiError, NotFound
from api.files import save_uploads, upload_folder
from api.keys import Principal, Scope
from api.routes._body import json_body, media_type, openapi_body, unsupported, uploaded_files
from api.schemas import (
    ChunkOut,
    Deleted,
    DocumentCreated,
    DocumentIn,
    DocumentOut,
    DocumentPage,
    EntityRef,
    IngestSummary,
    error_responses,
)
from graphrag.types import SourceDocument

router = APIRouter(prefix="/documents", tags=["documents"], responses=error_responses(401, 403, 422, 503))

DocumentId = Annotated[str, Path(min_length=1, max_length=1000, description="The document id")]


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


def nothing_ingested(summary: IngestSummary) -> ApiError:
    """422 for a request of which nothing was stored, with one message per file (or record)."""
    fields = []
    for failure in summary.failed or ["the input held no document"]:
        where, sep, reason = failure.partition(": ")
        fields.append({"field": where, "message": reason} if sep else {"field": "body", "message": failure})
    reasons = "; ".join(summary.failed[:5]) or "the input held no document"
    return ApiError(422, "nothing_ingested", f"no document could be ingested: {reasons}", fields=fields)


@router.post("", status_code=201, response_model=DocumentCreated, summary="Ingest a small document now",
             responses=error_responses(413, 415),
             openapi_extra=openapi_body(DocumentIn, "A document as JSON, or files as multipart/form-data"))
async def create_document(request: Request, principal: AdminPrincipal, ingestor: IngestorDep,
                          documents: DocumentsDep, settings: SettingsDep, metrics: MetricsDep,
                          workspace: WorkspaceDep) -> DocumentCreated:
    """Chunk, extract, embed and store synchronously; meant for a few small documents (use ingest
    jobs for batches). Re-sending an unchanged document is a cheap no-op. An uploaded file's id is a
    hash of its bytes (`upload-...`), so a different file with the same name is another document.
    422 with a message per file when nothing could be ingested."""
    kind = media_type(request)
    summary: IngestSummary
    if kind == "application/json":
        body: DocumentIn = await json_body(request, DocumentIn)
        async with workspace.write():  # the body may have taken long: not into a workspace deleted meanwhile
            summary = await run_in_threadpool(ingestor.ingest_documents, [source_document(body)])
    elif kind == "multipart/form-data":
        folder = upload_folder(settings.data_dir)
        try:  # the saved files are only the pipeline's input: gone once it has read them
            files = await save_uploads(await uploaded_files(request), folder, settings.api_max_body_bytes)
            async with workspace.write():  # not into a workspace deleted (or re-made) while the body came in
                summary = await run_in_threadpool(ingestor.ingest_paths, files, folder, by_content=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    else:
        raise unsupported("a document")
    label = metrics.workspace_label(workspace.name)
    metrics.ingest_documents.labels(label).inc(summary.documents)
    metrics.ingest_chunks.labels(label).inc(summary.chunks)
    if summary.documents == 0 and summary.skipped == 0:
        raise nothing_ingested(summary)
    stored = []
    for doc_id in dict.fromkeys(summary.document_ids):
        row = await run_in_threadpool(documents.get, doc_id)
        if row is not None:
            stored.append(document_out(row, principal))
    return DocumentCreated(documents=stored, summary=summary)


@router.get("", response_model=DocumentPage, summary="List documents, paged")
async def list_documents(principal: ReadPrincipal, documents: DocumentsDep,
                         offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
                         limit: Annotated[int, Query(ge=1, le=100)] = 20,
                         q: Annotated[str | None, Query(max_length=200, description=(
                             "Only documents whose id, title or source contains this text (any case); an "
                             "uploaded file is found by its file name. A source stored as an absolute "
                             "server path matches by its file name only, as read keys are shown it."))] = None,
                         ) -> DocumentPage:
    """Ordered by id; `q` narrows the list server-side, so a filter finds documents beyond the page shown.

    Uploaded files have content ids (`upload-...`), so people look for them by title or file name:
    `q` matches the `source` too, as read keys see it (`shown_source`), never the server's folders."""
    query = q.strip() if q else None
    if query:  # only passed when given: `DocumentsLike` implementations without a filter keep working
        rows, total = await run_in_threadpool(documents.list, offset=offset, limit=limit, query=query)
    else:
        rows, total = await run_in_threadpool(documents.list, offset=offset, limit=limit)
    return DocumentPage(items=[document_out(r, principal) for r in rows], total=total, offset=offset, limit=limit)


@router.get("/{document_id:path}", response_model=DocumentOut, summary="One document",
            responses=error_responses(404))
async def get_document(document_id: DocumentId, principal: ReadPrincipal, documents: DocumentsDep,
                       include: Annotated[Literal["chunks"] | None, Query(
                           description="`chunks`: also its chunks' text and the entities they mention")] = None,
                       ) -> DocumentOut:
    row = await run_in_threadpool(documents.get, document_id)
    if row is None:
        raise NotFound("document", document_id)
    out = document_out(row, principal)
    if include == "chunks":
        chunks, entities = await run_in_threadpool(documents.chunks, document_id)
        out.chunk_list = [ChunkOut.model_validate(c) for c in chunks]
        out.entities = [EntityRef.model_validate(e) for e in entities]
    return out


@router.delete("/{document_id:path}", response_model=Deleted, summary="Delete a document and its chunks",
               responses=error_responses(404))
async def delete_document(document_id: DocumentId, _: AdminPrincipal, documents: DocumentsDep,
                          metrics: MetricsDep, workspace: WorkspaceDep) -> Deleted:
    """Removes the document, its chunks, their mentions, and entities no other chunk mentions."""
    async with workspace.write():
        deleted = await run_in_threadpool(documents.delete, document_id)
    if not deleted:
        raise NotFound("document", document_id)
    metrics.documents_deleted.labels(metrics.workspace_label(workspace.name)).inc()
    return Deleted(id=document_id)
