"""Documents: small synchronous ingest (JSON or upload), paged list, get, delete."""

from __future__ import annotations

import shutil
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request

from api import operations
from api.auth import AdminPrincipal, ReadPrincipal
from api.deps import DocumentsDep, IngestorDep, MetricsDep, SettingsDep, WorkspaceDep
from api.errors import ApiError, NotFound
from api.files import save_uploads, upload_folder
from api.routes._body import json_body, media_type, openapi_body, unsupported, uploaded_files
from api.schemas import (
    Deleted,
    DocumentCreated,
    DocumentIn,
    DocumentOut,
    DocumentPage,
    IngestSummary,
    error_responses,
    source_document,
)

router = APIRouter(prefix="/documents", tags=["documents"], responses=error_responses(401, 403, 422, 503))

DocumentId = Annotated[str, Path(min_length=1, max_length=1000, description="The document id")]


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
    if kind == "application/json":
        body: DocumentIn = await json_body(request, DocumentIn)
        # the body may have taken long: the write guard keeps it out of a workspace deleted meanwhile
        created = await operations.add_documents(
            workspace, ingestor, documents, lambda ing: ing.ingest_documents([source_document(body)]),
            metrics=metrics, principal=principal)
    elif kind == "multipart/form-data":
        folder = upload_folder(settings.data_dir)
        try:  # the saved files are only the pipeline's input: gone once it has read them
            files = await save_uploads(await uploaded_files(request), folder, settings.api_max_body_bytes)
            created = await operations.add_documents(
                workspace, ingestor, documents, lambda ing: ing.ingest_paths(files, folder, by_content=True),
                metrics=metrics, principal=principal)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    else:
        raise unsupported("a document")
    if created.summary.documents == 0 and created.summary.skipped == 0:
        raise nothing_ingested(created.summary)
    return created


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
    return await operations.list_documents(documents, offset=offset, limit=limit, query=q, principal=principal)


@router.get("/{document_id:path}", response_model=DocumentOut, summary="One document",
            responses=error_responses(404))
async def get_document(document_id: DocumentId, principal: ReadPrincipal, documents: DocumentsDep,
                       include: Annotated[Literal["chunks"] | None, Query(
                           description="`chunks`: also its chunks' text and the entities they mention")] = None,
                       ) -> DocumentOut:
    out = await operations.get_document(documents, document_id, chunks=include == "chunks", principal=principal)
    if out is None:
        raise NotFound("document", document_id)
    return out


@router.delete("/{document_id:path}", response_model=Deleted, summary="Delete a document and its chunks",
               responses=error_responses(404))
async def delete_document(document_id: DocumentId, _: AdminPrincipal, documents: DocumentsDep,
                          metrics: MetricsDep, workspace: WorkspaceDep) -> Deleted:
    """Removes the document, its chunks, their mentions, and entities no other chunk mentions."""
    if not await operations.delete_document(workspace, documents, document_id, metrics=metrics):
        raise NotFound("document", document_id)
    return Deleted(id=document_id)
