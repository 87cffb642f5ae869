"""`graphrag search QUESTION` (ranked, cited passages) and `graphrag ask QUESTION` (an answer with
citations, streamed as the LLM writes it when one is configured; extractive otherwise).

Both ask the running service when one answers at the settings' URL (`GRAPHRAG_API_URL`, else the
API's host and port): it holds the models already, so the answer comes at once. Only when none
answers (or with `--local`, or options the service does not take) do they load the models here.
Either way the result is the REST API's: `--json` prints the same JSON as `POST /v1/retrieve` and
`POST /v1/ask`, since the in-process path calls the operations and the shaping of `api.operations` that
the routes call (issue 22: the CLI had its own timings and shaping, and they had drifted).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Annotated, Any, get_args

import typer

from cli.common import WorkspaceOpt, err, fail, out, settings_of, workspace_settings
from cli.remote import Service, ServiceError, find_service
from graphrag.config import Settings
from graphrag.errors import GraphRAGError
from graphrag.retrieval.base import Ranking, RetrievalConfig
from graphrag.retrieval.paths import format_path
from graphrag.types import PathStep, RetrievalResult
from schema.workspaces import WorkspaceNameError, check_name

if TYPE_CHECKING:  # the API's modules load with the models, only when a question is answered here
    from api.deps import AnswererLike, RetrieverLike
    from graphrag.retrieval.hybrid import HybridRetriever

_DEFAULTS = RetrievalConfig()
SERVICE_MAX_TOP_K = 50  # the API's bound on top_k (api.schemas.RetrieveRequest); more is answered here

QuestionArg = Annotated[str, typer.Argument(help="The question")]
TopKOpt = Annotated[int, typer.Option("--top-k", "-k", min=1, max=200, help="Passages retrieved")]
RankingOpt = Annotated[str, typer.Option(help=", ".join(get_args(Ranking)) + "; another than the default is "
                                              "answered here, not by the service")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as the HTTP API returns it (JSON)")]
LocalOpt = Annotated[bool, typer.Option("--local", help="Answer in this process (loads the models, 5-15 s) even "
                                                        "when a service answers at GRAPHRAG_API_URL")]


def _question(question: str) -> str:
    """The question, or exit 2 (a usage error) when it holds no word."""
    question = question.strip()
    if not any(ch.isalnum() for ch in question):
        fail('the question is empty: give it in words, e.g. graphrag ask "Who discovered radium?"', code=2)
    return question


def _service(ctx: typer.Context, workspace: str, *, local: bool, top_k: int, ranking: str) -> Service | None:
    """The running service to ask, or None to answer here."""
    try:
        check_name(workspace)
    except WorkspaceNameError as exc:
        fail(str(exc), code=2)
    if local or ranking != _DEFAULTS.ranking or top_k > SERVICE_MAX_TOP_K:
        return None
    settings = settings_of(ctx)
    service = find_service(settings)
    if service is None:
        err.print(f"no graphrag service answers at {settings.service_url}; loading the models here (`graphrag up` "
                  "in another terminal answers at once)", style="dim", highlight=False, soft_wrap=True)
    return service


class RankedRetriever:
    """A retriever with `--ranking` bound: the operation layer asks for a question, `top_k` and `hops`
    only (the service always ranks the configured way)."""

    def __init__(self, retriever: HybridRetriever, ranking: str):
        self.retriever, self.ranking = retriever, ranking

    def retrieve(self, question: str, *, top_k: int, hops: int) -> RetrievalResult:
        return self.retriever.retrieve(question, top_k=top_k, hops=hops, ranking=self.ranking)  # type: ignore[arg-type]


def _retriever(settings: Settings, top_k: int, ranking: str) -> RankedRetriever:
    """The retriever over the workspace's database, with the embedding model loaded (seconds)."""
    from graphrag.embeddings import SentenceTransformerEmbedder
    from graphrag.launch import open_database
    from graphrag.retrieval.hybrid import HybridRetriever

    db = open_database(settings)
    embedder = SentenceTransformerEmbedder(settings.embedding_model, expected_dim=settings.embedding_dim)
    config = RetrievalConfig.from_settings(settings, top_k=top_k)
    return RankedRetriever(HybridRetriever(db, embedder, config=config), ranking)


def search_here(retriever: RetrieverLike, question: str, top_k: int) -> tuple[dict[str, Any], RetrievalResult]:
    """`search` answered in this process: the JSON `POST /v1/retrieve` returns, and the retrieval (its seeds
    are printed too)."""
    from api import operations
    from api.schemas import DEFAULT_HOPS  # the service's reach: the CLI has no option for it

    retrieved = asyncio.run(operations.retrieve(retriever, question, top_k=top_k, hops=DEFAULT_HOPS, metrics=None))
    return operations.retrieve_out(retrieved).model_dump(), retrieved.result


def ask_here(retriever: RetrieverLike, answerer: AnswererLike, question: str, top_k: int, *,
             stream: bool) -> dict[str, Any]:
    """`ask` answered in this process: the JSON `POST /v1/ask` returns. With `stream`, the answer's text is
    printed as it comes (as `stream: true` sends it); without, it is answered whole (`--json`)."""
    from api import operations
    from api.schemas import DEFAULT_HOPS
    from graphrag.answer import ErrorEvent, TokenEvent

    async def run() -> dict[str, Any]:
        started = time.perf_counter()
        retrieved = await operations.retrieve(retriever, question, top_k=top_k, hops=DEFAULT_HOPS, metrics=None)
        if not stream:
            answered = await operations.answer(answerer, retrieved.result, temperature=None, metrics=None)
            return operations.ask_out(retrieved, answered.answer, answer_s=answered.seconds,
                                      total_s=time.perf_counter() - started).model_dump()
        async for event in operations.stream_answer(answerer, retrieved.result, temperature=None, metrics=None):
            if isinstance(event, TokenEvent):
                out.print(event.text, end="", highlight=False, soft_wrap=True, markup=False)
            elif isinstance(event, ErrorEvent):
                fail(f"the LLM stopped mid-answer: {event.message}")
            else:
                return operations.ask_out(retrieved, event.answer, answer_s=event.seconds,
                                          total_s=time.perf_counter() - started,
                                          first_token_s=event.first_token_s).model_dump()
        raise AssertionError("stream_answer ends with an answer or an error")

    return asyncio.run(run())


def _print_sources(sources: list[dict[str, Any]]) -> None:
    for s in sources:
        out.print(f"[{s['n']}] {s['title']}  score {s['score']:.4f}  {','.join(s['channels'])}  ({s['chunk_id']})",
                  highlight=False, soft_wrap=True, markup=False)
        out.print(f"    {s['snippet']}", highlight=False, soft_wrap=True, markup=False)


def _print_paths(paths: list[list[dict[str, Any]]]) -> None:
    """The paths of a response (the service's JSON or ours), one line each as `format_path` writes them."""
    for path in paths:
        if path:
            line = format_path([PathStep.model_validate(step) for step in path])
            out.print(f"path: {line}", highlight=False, soft_wrap=True, markup=False)


def _by(service: Service | None) -> str:
    return f" (service at {service.url})" if service is not None else ""


def search(ctx: typer.Context, question: QuestionArg, top_k: TopKOpt = _DEFAULTS.top_k,
           ranking: RankingOpt = _DEFAULTS.ranking, as_json: JsonOpt = False, workspace: WorkspaceOpt = "default",
           local: LocalOpt = False) -> None:
    """Retrieve ranked, cited passages for QUESTION from the ingested graph."""
    question = _question(question)
    service = _service(ctx, workspace, local=local, top_k=top_k, ranking=ranking)
    seeds = ""
    try:
        if service is not None:
            response = service.retrieve(workspace, question, top_k)
        else:
            retriever = _retriever(workspace_settings(ctx, workspace), top_k, ranking)
            response, result = search_here(retriever, question, top_k)
            seeds = ", ".join(f"{s.name} ({s.source}, {s.mentions})" for s in result.seeds)
    except ServiceError as exc:
        fail(str(exc), code=exc.exit_code)
        return
    except GraphRAGError as exc:
        fail(str(exc))
        return
    finally:
        if service is not None:
            service.close()
    if as_json:
        out.print_json(json.dumps(response))
        return
    _print_sources(response["sources"])
    if seeds:
        out.print("seeds: " + seeds, highlight=False, soft_wrap=True, markup=False)
    _print_paths(response["paths"])
    out.print(f"{response['timings_ms'].get('total', 0):.0f} ms{_by(service)}", style="dim", highlight=False)


def _ask_service(service: Service, workspace: str, question: str, top_k: int, as_json: bool) -> dict[str, Any]:
    final: dict[str, Any] | None = None
    for event, data in service.ask(workspace, question, top_k):
        if event == "token" and not as_json:
            out.print(data.get("text", ""), end="", highlight=False, soft_wrap=True, markup=False)
        elif event == "final":
            final = data
        elif event == "error":
            message = (data.get("error") or {}).get("message", "the answer broke off")
            raise ServiceError(f"the service's answer broke off: {message}")
    if final is None:
        raise ServiceError(f"the service at {service.url} sent no final answer")
    return final


def ask(ctx: typer.Context, question: QuestionArg, top_k: TopKOpt = _DEFAULTS.top_k,
        ranking: RankingOpt = _DEFAULTS.ranking, as_json: JsonOpt = False, workspace: WorkspaceOpt = "default",
        local: LocalOpt = False) -> None:
    """Answer QUESTION with numbered citations, streamed as the LLM writes it.

    A running service answers with its own answerer. Here, the LLM is GRAPHRAG_LLM_BASE_URL's
    (`local`: the CPU answerer of `graphrag llm start`); without one, or when it fails, the answer is
    extractive: the passages' own sentences, cited.
    """
    question = _question(question)
    service = _service(ctx, workspace, local=local, top_k=top_k, ranking=ranking)
    try:
        if service is not None:
            answer = _ask_service(service, workspace, question, top_k, as_json)
        else:
            from graphrag.answer import Answerer

            settings = workspace_settings(ctx, workspace)
            answer = ask_here(_retriever(settings, top_k, ranking), Answerer.from_settings(settings), question, top_k,
                              stream=not as_json)
    except ServiceError as exc:
        fail(str(exc), code=exc.exit_code)
        return
    except GraphRAGError as exc:
        fail(str(exc))
        return
    finally:
        if service is not None:
            service.close()
    if as_json:
        out.print_json(json.dumps(answer))
        return
    out.print()
    for c in answer["citations"]:
        out.print(f"[{c['n']}] {c['title']} ({c['document_id']}): {c['snippet']}", highlight=False, soft_wrap=True,
                  markup=False)
    out.print(f"{answer['mode']} answer, {answer['timings_ms'].get('total', 0):.0f} ms{_by(service)}", style="dim",
              highlight=False)
