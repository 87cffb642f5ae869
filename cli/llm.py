"""`graphrag llm`: the local CPU answerer (llama.cpp's OpenAI-compatible server, a packaged model)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import out, settings_of

llm_app = typer.Typer(help="Run the local CPU answerer: llama.cpp's OpenAI-compatible server with a packaged "
                           "GGUF model (needs `make llm`).", no_args_is_help=True)
LLMModelOpt = Annotated[str | None, typer.Option("--model", help="'smollm2' or 'qwen2.5-1.5b' "
                                                                 "[GRAPHRAG_LLM_LOCAL_MODEL, smollm2]")]
LLMPortOpt = Annotated[int | None, typer.Option("--port", help="Port on 127.0.0.1 [GRAPHRAG_LLM_PORT, 8081]")]


@llm_app.command("start")
def llm_start(ctx: typer.Context, model: LLMModelOpt = None, port: LLMPortOpt = None,
              threads: Annotated[int | None, typer.Option(help="CPU threads [all cores]; fewer on a busy "
                                                                  "machine")] = None,
              timeout: Annotated[float, typer.Option(help="Seconds to wait for the server")] = 120.0) -> None:
    """Start the local llama.cpp server (a no-op when it already runs)."""
    from graphrag.local_llm import local_llm_server

    server = local_llm_server(settings_of(ctx), model=model, port=port, threads=threads)
    before = server.status()
    status = server.start(timeout=timeout)
    verb = "already running" if before.running else "started"
    out.print(f"llama.cpp server ({', '.join(status.models) or server.model}) {verb} at {status.url} "
              f"(pid {status.pid}); log {server.log_file}\n"
              f"answer with it: export GRAPHRAG_LLM_BASE_URL=local", highlight=False)


@llm_app.command("stop")
def llm_stop(ctx: typer.Context, port: LLMPortOpt = None) -> None:
    """Stop the local llama.cpp server."""
    from graphrag.local_llm import local_llm_server

    server = local_llm_server(settings_of(ctx), port=port)
    out.print("llama.cpp server stopped" if server.stop() else "llama.cpp server was not running")


@llm_app.command("status")
def llm_status(ctx: typer.Context, port: LLMPortOpt = None) -> None:
    """Say whether the local llama.cpp server runs; exit 3 when it does not."""
    from graphrag.local_llm import local_llm_server

    status = local_llm_server(settings_of(ctx), port=port).status()
    if status.running:
        out.print(f"running: {', '.join(status.models)} at {status.url} (pid {status.pid})", highlight=False)
    else:
        out.print(f"not running ({status.detail})")
        raise typer.Exit(3)
