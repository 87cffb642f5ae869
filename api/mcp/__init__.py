"""The service as tools for agents: a Model Context Protocol face over the same operations as the REST API.

Agents (desktop assistants, coding agents, agent frameworks) reach knowledge through MCP tools, not
REST calls. The tools are as thin as the REST routes: each checks its arguments, calls one operation
of `api.operations` (the same one the route calls, with its metrics and read-back) and returns a
pydantic model, which is both the tool's output schema and its structured content. A document is a
resource; one prompt turns retrieved passages into a cited-answer request for the agent's own model.

The package is split by role, as graphiti's `mcp_server` is:

- `tools`: the tools, the resource and the prompt, as module-level functions;
- `server`: `build_server`, the one server definition, which registers them;
- `deps`: what the tools depend on (`ToolDeps`), carried by the server;
- `results`: the tools' output models; `prompt`: the cited-answer prompt text;
- `errors`: the core's typed errors as tool errors an agent can act on (the database unreachable:
  retry later; arguments that fail validation: which field, why; a key without the admin scope);
  anything unexpected is logged with its traceback and reaches the client as the SDK's generic tool
  error, so no internals leak;
- `callers`: who is calling and in which workspace;
- two transports: `http` (streamable HTTP inside the API, behind the REST key check) and `stdio`
  (`graphrag mcp`).

No module here imports a REST route, and no route imports this package: the two faces share
`api.operations` and `api.schemas`, nothing else.
"""
