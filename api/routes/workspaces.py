"""Workspaces: create, list, read and delete isolated knowledge graphs (one ArcadeDB database each).

Creating and deleting needs the `global` scope. Listing shows a key the workspaces it is bound to,
and only those; reading one it is not bound to is a 404, the same as one that does not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from api import operations
from api.auth import Authenticated, require
from api.deps import WorkspaceDep, get_jobs, workspace_path
from api.errors import ApiError, NotFound
from api.keys import Principal, Scope
from api.routes._body import json_body, openapi_body
from api.schemas import Deleted, WorkspaceDelete, WorkspaceIn, WorkspaceList, WorkspaceOut, error_responses
from api.workspaces import Workspaces
from schema.workspaces import DEFAULT, WorkspaceBusyError

router = APIRouter(prefix="/v1/workspaces", tags=["workspaces"], responses=error_responses(401, 403, 422, 503))
GlobalPrincipal = Annotated[Principal, Depends(require(Scope.global_))]


def _registry(request: Request) -> Workspaces:
    return request.app.state.workspaces  # type: ignore[no-any-return]


@router.get("", response_model=WorkspaceList, summary="The workspaces this key reaches")
async def list_workspaces(request: Request, principal: Authenticated) -> WorkspaceList:
    return WorkspaceList(items=await operations.visible_workspaces(_registry(request), principal),
                         scope=principal.scope.value)


@router.post("", status_code=201, response_model=WorkspaceOut, summary="Create a workspace",
             responses=error_responses(409, 415), openapi_extra=openapi_body(WorkspaceIn, "The workspace"))
async def create_workspace(request: Request, _: GlobalPrincipal, response: Response) -> WorkspaceOut:
    """Creates its database and migrates it to the current schema; 409 when it already exists."""
    body: WorkspaceIn = await json_body(request, WorkspaceIn)
    if not await operations.create_workspace(_registry(request), body.name):
        raise ApiError(409, "conflict", f"workspace {body.name!r} already exists")
    response.headers["Location"] = f"/v1/workspaces/{body.name}"
    return WorkspaceOut(name=body.name, documents=0)


@router.get("/{workspace}", response_model=WorkspaceOut, summary="One workspace", responses=error_responses(404),
            dependencies=[Depends(workspace_path)])
async def get_workspace(workspace: WorkspaceDep) -> WorkspaceOut:
    return await operations.workspace_summary(workspace)


@router.delete("/{workspace}", response_model=Deleted, summary="Delete a workspace and all its data",
               responses=error_responses(404, 409, 415),
               openapi_extra=openapi_body(WorkspaceDelete, "The confirmation"))
async def delete_workspace(request: Request, name: Annotated[str, Depends(workspace_path)],
                           principal: Authenticated) -> Deleted:
    """Drops the workspace's database: its documents, chunks, entities and jobs are gone for good.
    The body must repeat the name (`{"confirm": "<name>"}`). 409 for `default` (it holds the keys and
    jobs of the service). Its queued and running ingest jobs are cancelled (each stops after the file
    it is on); a write authorised before the delete and still in flight fails with 404, or 409 when
    a workspace of the same name was made again since."""
    if not principal.sees(name):  # before the scope: an unbound key cannot tell whether it exists
        raise NotFound("workspace", name)
    if not principal.allows(Scope.global_):
        raise ApiError(403, "forbidden", "this operation needs the 'global' scope")
    registry = _registry(request)
    if name != DEFAULT and not await registry.exists(name):
        raise NotFound("workspace", name)
    body: WorkspaceDelete = await json_body(request, WorkspaceDelete)
    if body.confirm != name:
        raise ApiError(422, "confirmation_mismatch", f"the body's confirm must be {name!r} to delete it",
                       fields=[{"field": "confirm", "message": f"must equal the workspace name {name!r}"}])
    verifier = getattr(request.app.state, "key_verifier", None)
    try:
        dropped = await operations.delete_workspace(registry, get_jobs(request), name,
                                                    forget_keys=verifier.clear if verifier is not None else None)
    except WorkspaceBusyError as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    if not dropped:
        raise NotFound("workspace", name)
    return Deleted(id=name)
