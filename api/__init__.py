"""The faces of the service: the FastAPI app and the `graphrag` command line."""
