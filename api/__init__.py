"""The faces of the service over HTTP: the FastAPI app, its routes, the web console and the MCP server."""
