# salesbot: one image for `serve`, `scheduler`, `slack-socket` and the CLI.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# glibc keeps freed memory in an arena per thread; two arenas keep the server's RSS flat (bench/memory.py)
ENV MALLOC_ARENA_MAX=2

# No system font needed: the CJK font for the weekly chart is a Python dependency (noto-cjk-sans-otc).

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY services ./services
COPY jobs ./jobs
COPY models ./models
COPY templates ./templates
COPY migrations ./migrations
RUN pip install .

RUN useradd --create-home --uid 10001 salesbot && mkdir -p /data && chown salesbot /data
USER salesbot
WORKDIR /data

ENV SALESBOT_SERVER__HOST=0.0.0.0 \
    SALESBOT_SERVER__PORT=8000
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"

CMD ["salesbot", "serve", "--host", "0.0.0.0", "--port", "8000"]
