"""`graphrag search QUESTION` (ranked, cited passages) and `graphrag ask QUESTION` (an answer with
citations, streamed as the LLM writes it when one is configured; extractive otherwise)."""

from __future__ import annotations

import asyncio
from typing import Annotated, get_args

import typer
from rich.table import Table

from cli.common import WorkspaceOpt, fail, out, workspace_settings
from graphrag.config import Settings
from graphrag.errors import GraphRAGError
from graphrag.retrieval.base import Ranking, RetrievalConfig
from graphrag.retrieval.paths import format_path
from graphrag.types import Answer, RetrievalResult

_DEFAULTS = RetrievalConfig()

QuestionArg = Annotated[str, typer.Argument(help="The question")]
TopKOpt = Annotated[int, typer.Option("--top-k", "-k", min=1, max=200, help="Passages retrieved")]
RankingOpt = Annotated[str, typer.Option(help=", ".join(get_args(Ranking)))]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the whole result as JSON")]


def _retrieve(settings: Settings, question: str, top_k: int, ranking: str) -> RetrievalResult:
    from graphrag.embeddings import SentenceTransformerEmbedder
    from graphrag.launch import open_database
    from graphrag.retrieval.hybrid import HybridRetriever

    db = open_database(settings)
    embedder = SentenceTransformerEmbedder(settings.embedding_model, expected_dim=settings.embedding_dim)
    retriever = HybridRetriever(db, embedder, config=RetrievalConfig(top_k=top_k))
    return retriever.retrieve(question, ranking=ranking)  # type: ignore[arg-type]


def search(ctx: typer.Context, question: QuestionArg, top_k: TopKOpt = _DEFAULTS.top_k,
           ranking: RankingOpt = _DEFAULTS.ranking, as_json: JsonOpt = False, workspace: WorkspaceOpt = "default",
           ) -> None:
    """Retrieve ranked, cited passages for QUESTION from the ingested graph."""
    settings = workspace_settings(ctx, workspace)
    try:
        result = _retrieve(settings, question, top_k, ranking)
    except GraphRAGError as exc:
        fail(str(exc))
        return
    if as_json:
        out.print_json(result.model_dump_json())
        return
    table = Table("n", "title", "score", "channels", "chunk")
    for n, p in enumerate(result.passages, start=1):
        table.add_row(str(n), p.title, f"{p.score:.4f}", ",".join(p.channels), p.chunk_id)
    out.print(table)
    if result.seeds:
        out.print("seeds: " + ", ".join(f"{s.name} ({s.source}, {s.mentions})" for s in result.seeds))
    for path in result.paths:
        out.print("path: " + format_path(path), highlight=False)
    out.print(f"{result.timings_ms.get('total', 0):.0f} ms", style="dim")


def ask(ctx: typer.Context, question: QuestionArg, top_k: TopKOpt = _DEFAULTS.top_k,
        ranking: RankingOpt = _DEFAULTS.ranking, as_json: JsonOpt = False, workspace: WorkspaceOpt = "default",
        ) -> None:
    """Answer QUESTION with numbered citations, streamed as the LLM writes it.

    The LLM is GRAPHRAG_LLM_BASE_URL's (`local`: the CPU answerer of `graphrag llm start`); without
    one, or when it fails, the answer is extractive: the passages' own sentences, cited.
    """
    from graphrag.answer import Answerer, ErrorEvent, FinalEvent, TokenEvent

    settings = workspace_settings(ctx, workspace)
    try:
        result = _retrieve(settings, question, top_k, ranking)
        answerer = Answerer.from_settings(settings)
    except GraphRAGError as exc:
        fail(str(exc))
        return

    async def run() -> Answer | None:
        final: Answer | None = None
        async for event in answerer.stream(result):
            if isinstance(event, TokenEvent) and not as_json:
                out.print(event.text, end="", highlight=False, soft_wrap=True)
            elif isinstance(event, FinalEvent):
                final = event.answer
            elif isinstance(event, ErrorEvent):
                fail(f"the LLM stopped mid-answer: {event.message}")
        return final

    answer = asyncio.run(run())
    if answer is None:
        fail("no answer came back")
        return
    if as_json:
        out.print_json(answer.model_dump_json())
        return
    out.print()
    for c in answer.citations:
        out.print(f"[{c.n}] {c.title} ({c.document_id}): {c.snippet}", highlight=False, soft_wrap=True)
    out.print(f"{answer.mode} answer, {answer.timings_ms.get('total', 0):.0f} ms", style="dim")
