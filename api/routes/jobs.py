"""Ingest jobs: a batch from uploaded files or from server paths inside the allowed folder."""

from __future__ import annotations

import shutil
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from api.auth import AdminPrincipal
from api.deps import SettingsDep, WorkspaceDep, get_jobs
from api.errors import NotFound
from api.files import resolve_server_paths, save_uploads
from api.jobs import JobManager, job_out, new_job_id
from api.routes._body import json_body, media_type, openapi_body, unsupported, uploaded_files
from api.schemas import JobFromPaths, JobList, JobOut, error_responses

router = APIRouter(prefix="/ingest/jobs", tags=["ingest jobs"], responses=error_responses(401, 403, 422, 503))


@router.post("", status_code=202, response_model=JobOut, summary="Start a batch ingest job",
             responses=error_responses(413, 415),
             openapi_extra=openapi_body(JobFromPaths, "Server paths as JSON, or files as multipart/form-data"))
async def create_job(request: Request, _: AdminPrincipal, settings: SettingsDep, response: Response,
                     workspace: WorkspaceDep) -> JobOut:
    """Queues the job and answers at once; poll `GET .../ingest/jobs/{id}` (the `Location` header) for
    its progress. The job ingests into the workspace of the path."""
    jobs: JobManager = get_jobs(request)
    kind = media_type(request)
    job_id = new_job_id()
    if kind == "application/json":
        body: JobFromPaths = await json_body(request, JobFromPaths)
        found = resolve_server_paths(body.paths, settings.api_allowed_ingest_dir)
        assert settings.api_allowed_ingest_dir is not None  # resolve_server_paths refused otherwise
        async with workspace.write():  # recorded only for the workspace it was authorised for
            job = await jobs.submit(workspace.name, "paths", found.files, settings.api_allowed_ingest_dir.resolve(),
                                    job_id, skipped=found.skipped, incarnation=workspace.incarnation)
    elif kind == "multipart/form-data":
        folder = settings.data_dir / "uploads" / job_id
        try:  # the job deletes the folder when it ends; until it is recorded, this request does
            files = await save_uploads(await uploaded_files(request), folder, settings.api_max_body_bytes)
            # the body may have taken long: the workspace it was authorised for may be gone (or re-made) now
            async with workspace.write():
                job = await jobs.submit(workspace.name, "upload", files, folder, job_id,
                                        incarnation=workspace.incarnation)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    else:
        raise unsupported("a job")
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{job.id}"
    return job


@router.get("", response_model=JobList, summary="The newest jobs first")
async def list_jobs(request: Request, _: AdminPrincipal, workspace: WorkspaceDep,
                    limit: Annotated[int, Query(ge=1, le=100, description="Most jobs returned")] = 20) -> JobList:
    """The workspace's jobs, from every process of the service, newest first, with their progress
    and summaries."""
    jobs: JobManager = get_jobs(request)
    return JobList(items=[job_out(row) for row in await jobs.store.recent(limit, workspace.name,
                                                                          workspace.incarnation)])


@router.get("/{job_id}", response_model=JobOut, summary="A job's state and progress",
            responses=error_responses(404))
async def get_job(job_id: Annotated[str, Path(min_length=1, max_length=100)], request: Request,
                  _: AdminPrincipal, workspace: WorkspaceDep) -> JobOut:
    jobs: JobManager = get_jobs(request)
    row = await jobs.store.get(job_id, workspace.name, workspace.incarnation)  # another workspace's: not found
    if row is None:
        raise NotFound("ingest job", job_id)
    return job_out(row)
