"""The `graphrag` command: the only home of typer and rich. Each module is one group of commands;
the work itself lives in `graphrag/`, `ingestion/`, `schema/` and `api/`."""
