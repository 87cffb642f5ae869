"""Authentication dependencies: `X-API-Key: <key>` or `Authorization: Bearer <key>`.

The key itself is checked by `api.security.AuthenticationMiddleware` before the route runs (so before
the body is parsed); these dependencies take the principal it left in the request state and check
the scope. A route the middleware does not cover (an app built without it) authenticates here, with
the same rules and the same failed-key limit.

When keys are not enforced (the embedded default bound to loopback), a request without a key
acts with every scope; a key that *is* presented is still checked, so a wrong key never passes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError
from api.keys import Principal, Scope
from api.security import PRINCIPAL_STATE, Authenticator, client_address

# auto_error=False: we answer 401 in our own envelope; these objects also document both schemes.
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key")
_bearer = HTTPBearer(auto_error=False, description="An API key as a bearer token")


async def _principal(request: Request,
                     api_key: Annotated[str | None, Depends(_api_key_header)],
                     bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    known = request.scope.get("state", {}).get(PRINCIPAL_STATE)
    if isinstance(known, Principal):
        return known
    authenticator: Authenticator = request.app.state.authenticator
    return await authenticator.authenticate(request.headers, client_address(request.scope),
                                            getattr(request.app.state, "key_verifier", None))


def require(scope: Scope):  # type: ignore[no-untyped-def]
    """A dependency that lets the request through only with a key of `scope` (admin implies read)."""

    async def check(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        if not principal.allows(scope):
            raise ApiError(403, "forbidden", f"this operation needs the '{scope.value}' scope")  # global > admin > read
        return principal

    return check


Authenticated = Annotated[Principal, Depends(_principal)]  # any valid key, whatever its scope
ReadPrincipal = Annotated[Principal, Depends(require(Scope.read))]
AdminPrincipal = Annotated[Principal, Depends(require(Scope.admin))]
