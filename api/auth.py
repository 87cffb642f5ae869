"""Authentication dependencies: `X-API-Key: <key>` or `Authorization: Bearer <key>`.

When keys are not enforced (the embedded default bound to loopback), a request without a key
acts with every scope; a key that *is* presented is still checked, so a wrong key never passes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError
from api.keys import ANONYMOUS, KeyVerifier, Principal, Scope

# auto_error=False: we answer 401 in our own envelope; these objects also document both schemes.
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key")
_bearer = HTTPBearer(auto_error=False, description="An API key as a bearer token")

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="graphrag"'}


async def _principal(request: Request,
                     api_key: Annotated[str | None, Depends(_api_key_header)],
                     bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    presented = api_key or (bearer.credentials if bearer else None)
    enforced: bool = request.app.state.settings.api_keys_enforced
    if not presented:
        if not enforced:
            return ANONYMOUS
        raise ApiError(401, "unauthorized", "an API key is required (X-API-Key or Authorization: Bearer)",
                       headers=_CHALLENGE)
    verifier: KeyVerifier = request.app.state.key_verifier
    principal = await verifier.verify(presented)
    if principal is None:
        raise ApiError(401, "unauthorized", "the API key is not valid", headers=_CHALLENGE)
    return principal


def require(scope: Scope):  # type: ignore[no-untyped-def]
    """A dependency that lets the request through only with a key of `scope` (admin implies read)."""

    async def check(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        if not principal.allows(scope):
            raise ApiError(403, "forbidden", f"this operation needs the '{scope.value}' scope")
        return principal

    return check


ReadPrincipal = Annotated[Principal, Depends(require(Scope.read))]
AdminPrincipal = Annotated[Principal, Depends(require(Scope.admin))]
