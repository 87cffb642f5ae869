# The API service image (CPU). The LLM runs elsewhere (vLLM, see docker-compose.yml) and is
# reached by URL; without one the service answers extractively.
# The web console's one library (Cytoscape.js), from the pinned lockfile; no bundler, no build step.
FROM node:20.18.1-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

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
COPY api ./api
COPY cli ./cli
# the web console at / : its page and Cytoscape.js, where api/web.py looks for them (web/ beside api/)
COPY web/static ./web/static
COPY --from=web /web/node_modules/cytoscape/dist/cytoscape.esm.min.mjs ./web/node_modules/cytoscape/dist/
# editable, so the packages stay in /app beside web/ (a plain install would move them to
# site-packages, away from the console's files); with the Ray extra: ingest jobs can run on a Ray
# cluster (GRAPHRAG_INGEST_ENGINE=ray)
RUN pip install -e ".[ray]"

RUN mkdir -p /data && chown graphrag /data
USER graphrag
EXPOSE 8000
# Migrations run before the API starts (idempotent); then the service.
CMD ["sh", "-c", "graphrag schema migrate && graphrag serve"]
