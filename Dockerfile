# The API service image (CPU). The LLM runs elsewhere (vLLM, see docker-compose.yml) and is
# reached by URL; without one the service answers extractively.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

WORKDIR /app
RUN useradd --create-home --uid 10001 graphrag

# torch first, CPU build only: otherwise pip resolves CUDA torch (GBs).
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

COPY pyproject.toml README.md ./
COPY graphrag ./graphrag
COPY ingestion ./ingestion
COPY schema ./schema
# api/ holds the web console too (api/console: its page and the vendored Cytoscape.js), as package data
COPY api ./api
COPY cli ./cli
# with the Ray extra: ingest jobs can run on a Ray cluster (GRAPHRAG_INGEST_ENGINE=ray)
RUN pip install -e ".[ray]"
# the ranking's compiled loops, built once here into a cache the service's user can read and refresh
ENV NUMBA_CACHE_DIR=/app/.numba-cache
RUN python -c 'from graphrag.retrieval.ppr import compile_kernels; compile_kernels()' && \
    chown -R graphrag /app/.numba-cache

# the question encoder's ONNX model (exported and int8-quantized: about 3 s at every start otherwise)
ENV GRAPHRAG_MODEL_CACHE_DIR=/app/.model-cache
RUN python -c 'from api.components import prepare_question_encoder; prepare_question_encoder()' && \
    chown -R graphrag /app/.model-cache

RUN mkdir -p /data && chown graphrag /data
USER graphrag
EXPOSE 8000
# Migrations run before the API starts (idempotent); then the service.
CMD ["sh", "-c", "graphrag schema migrate && graphrag serve"]
