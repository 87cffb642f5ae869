"""`graphrag search QUESTION`: retrieval from the command line (registered by `api/cli.py`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from graphrag.config import Settings
from graphrag.errors import GraphRAGError
from graphrag.retrieval.base import RetrievalConfig
from graphrag.retrieval.paths import format_path

out = Console()


def register(app: typer.Typer, settings_of: Callable[[typer.Context], Settings],
             fail: Callable[[str], Any]) -> None:
    @app.command("search")
    def search(
        ctx: typer.Context,
        question: Annotated[str, typer.Argument(help="The question")],
        top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=200, help="Passages returned")] = 8,
        ranking: Annotated[str, typer.Option(help="ppr (default), rrf, dense, keyword or graph")] = "ppr",
        as_json: Annotated[bool, typer.Option("--json", help="Print the whole RetrievalResult as JSON")] = False,
    ) -> None:
        """Retrieve ranked, cited passages for QUESTION from the ingested graph."""
        from graphrag.embeddings import SentenceTransformerEmbedder
        from graphrag.launch import open_database
        from graphrag.retrieval.hybrid import HybridRetriever

        settings = settings_of(ctx)
        try:
            db = open_database(settings)
            embedder = SentenceTransformerEmbedder(settings.embedding_model, expected_dim=settings.embedding_dim)
            retriever = HybridRetriever(db, embedder, config=RetrievalConfig(top_k=top_k))
            result = retriever.retrieve(question, ranking=ranking)  # type: ignore[arg-type]
        except GraphRAGError as exc:
            fail(str(exc))
            return
        if as_json:
            out.print_json(result.model_dump_json())
            return
        table = Table("n", "title", "score", "channels", "chunk")
        for n, p in enumerate(result.passages, start=1):
            table.add_row(str(n), p.title, f"{p.score:.4f}", ",".join(p.channels),
                          p.chunk_id)
        out.print(table)
        if result.seeds:
            out.print("seeds: " + ", ".join(f"{s.name} ({s.source}, {s.mentions})" for s in result.seeds))
        for path in result.paths:
            out.print("path: " + format_path(path), highlight=False)
        out.print(f"{result.timings_ms.get('total', 0):.0f} ms", style="dim")
