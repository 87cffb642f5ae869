"""GET /v1/graph/entities/{key}: an entity's neighbourhood, for exploring what the graph links."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api import operations
from api.auth import ReadPrincipal
from api.deps import GraphDep
from api.errors import NotFound
from api.schemas import Neighbourhood, error_responses

router = APIRouter(prefix="/graph", tags=["graph"], responses=error_responses(401, 403, 422, 503))


@router.get("/entities/{key}", response_model=Neighbourhood, summary="An entity's neighbourhood",
            responses=error_responses(404))
async def entity_neighbourhood(
        key: Annotated[str, Path(min_length=1, max_length=300, description="Entity key (normalised name)")],
        _: ReadPrincipal, graph: GraphDep,
        hops: Annotated[int, Query(ge=1, le=2, description="How far to expand")] = 1,
        limit: Annotated[int, Query(ge=1, le=500, description="Most nodes returned")] = 100) -> Neighbourhood:
    found = await operations.entity_neighbourhood(graph, key, hops=hops, limit=limit)
    if found is None:
        raise NotFound("entity", key)
    return found
