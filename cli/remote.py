"""The running service as `graphrag ask` and `graphrag search` see it: found by a quick probe of its
`/healthz`, then asked over the same REST API as any client (`/v1/retrieve`, `/v1/ask` streamed).

A running service already holds the models, so a question answered there takes well under a
second where loading them in the command takes 5-15 s. Only when nothing answers at the settings'
URL (`Settings.service_url`) does the command load them itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from graphrag.config import Settings
from schema.workspaces import DEFAULT

PROBE_TIMEOUT_S = 1.0  # a service on this machine answers /healthz in milliseconds
_READ_TIMEOUT_S = 300.0  # a CPU answerer can take tens of seconds before its first token


class ServiceError(Exception):
    """The service answered, but not with a result: `exit_code` is the command's (2 usage, 4 not found)."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Service:
    """A graphrag service that answered at `url`."""

    url: str
    client: httpx.Client

    def _path(self, workspace: str, tail: str) -> str:
        return f"/v1/{tail}" if workspace == DEFAULT else f"/v1/workspaces/{workspace}/{tail}"

    def retrieve(self, workspace: str, question: str, top_k: int) -> dict[str, Any]:
        """`POST /v1/retrieve`: the API's `RetrieveResponse` as JSON."""
        try:
            response = self.client.post(self._path(workspace, "retrieve"), json={"question": question, "top_k": top_k})
        except httpx.HTTPError as exc:
            raise ServiceError(f"the service at {self.url} stopped answering: {type(exc).__name__}") from exc
        self._check(response, workspace)
        return response.json()  # type: ignore[no-any-return]

    def ask(self, workspace: str, question: str, top_k: int) -> Iterator[tuple[str, dict[str, Any]]]:
        """`POST /v1/ask` with `stream: true`: its server-sent events as (event, data), in order."""
        body = {"question": question, "top_k": top_k, "stream": True}
        try:
            with self.client.stream("POST", self._path(workspace, "ask"), json=body) as response:
                if response.status_code != 200:
                    response.read()
                    self._check(response, workspace)
                yield from _events(response.iter_lines())
        except httpx.HTTPError as exc:
            raise ServiceError(f"the service at {self.url} stopped answering: {type(exc).__name__}") from exc

    def _check(self, response: httpx.Response, workspace: str) -> None:
        if response.status_code < 400:
            return
        try:
            message = str(response.json()["error"]["message"])
        except (ValueError, KeyError, TypeError):
            message = response.text[:200] or response.reason_phrase
        status = response.status_code
        if status == 401:
            raise ServiceError(f"the service at {self.url} requires an API key: set GRAPHRAG_API_KEY to one "
                               "(`graphrag api-key create --scope read`), or answer here with --local "
                               f"({message})")
        if status == 403:
            raise ServiceError(f"the service at {self.url} refused the key: {message}")
        if status == 404 and workspace != DEFAULT:
            raise ServiceError(f"no workspace named {workspace!r} at {self.url}; create it with "
                               f"`graphrag workspace create {workspace}`", exit_code=4)
        if status == 422:
            raise ServiceError(message, exit_code=2)
        raise ServiceError(f"the service at {self.url} answered {status}: {message}")

    def close(self) -> None:
        self.client.close()


def find_service(settings: Settings) -> Service | None:
    """The graphrag service at the settings' URL, or None when nothing (or something else) answers there."""
    url = settings.service_url
    headers = {"X-API-Key": settings.api_key.get_secret_value()} if settings.api_key is not None else {}
    client = httpx.Client(base_url=url, headers=headers,
                          timeout=httpx.Timeout(_READ_TIMEOUT_S, connect=PROBE_TIMEOUT_S))
    try:
        probe = client.get("/healthz", timeout=PROBE_TIMEOUT_S)
        ours = probe.status_code == 200 and probe.json() == {"status": "ok"}
    except (httpx.HTTPError, ValueError):
        ours = False
    if not ours:
        client.close()
        return None
    return Service(url, client)


def _events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Server-sent events as the API frames them (`api.routes.ask.sse`: `event:` and one `data:` line of
    JSON, then a blank line)."""
    event, data = "message", ""
    for line in lines:
        if not line:
            if data:
                yield event, json.loads(data)
            event, data = "message", ""
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()
    if data:
        yield event, json.loads(data)
