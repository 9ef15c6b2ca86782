# The prediction API image: `churnops serve` with only what serving needs (no training, monitoring
# or orchestration dependencies). Build from the repository root:
#   docker build -f deploy/docker/api.Dockerfile -t churnops-api .      (or: make image)
# BASE_IMAGE must provide python3 (3.11) with venv; the tests pass a Debian base built locally.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# One stage, the layers in the order they change: the user, the locked dependencies (rebuilt only when
# uv.lock changes), then the package (a code change rebuilds only
# that small layer), labels last. No multi-stage COPY of the whole environment, which every commit redid.
FROM ${BASE_IMAGE}
ARG UV_VERSION=0.13.9
# Build-time only (ARG, not ENV). UV_NATIVE_TLS/PIP_CERT: trust the system's CA store (a build behind a
# TLS-inspecting proxy mounts its CA there).
ARG UV_NATIVE_TLS=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/opt/churnops \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/churnops churnops
WORKDIR /src
# The dependency layer is keyed on uv.lock alone (what `uv sync --frozen` installs): COPY checksums it, while buildah
# does not checksum bind mounts (buildah#5400), so pyproject.toml is only bind-mounted here and an edit of it that
# is not a new lock (tool settings) does not reinstall the dependencies.
COPY uv.lock /src/
# uv exists only inside each installing step (pip-installed into /tmp, removed before the layer is committed):
# the image has no uv, pip or caches. The test suites of numpy, pandas, scipy and scikit-learn are dropped
# (about 100 MB; other packages' `tests` may be code they import). Bytecode for what the server imports
# (Python writes it as it imports), not all 130 MB of site-packages: the container starts without compiling
# (it runs as a user who cannot write there) and stays small.
RUN --mount=type=cache,target=/root/.cache/uv --mount=type=cache,target=/root/.cache/pip \
    --mount=type=bind,source=pyproject.toml,target=/src/pyproject.toml \
    python3 -m venv /tmp/uv && /tmp/uv/bin/pip install --quiet "uv==${UV_VERSION}" \
 && /tmp/uv/bin/uv sync --frozen --no-dev --no-install-project --python python3 \
 && sp=/opt/churnops/lib/python3.11/site-packages && find "$sp/numpy" "$sp/pandas" "$sp/scipy" "$sp/sklearn" -depth -type d -name tests -exec rm -rf {} + \
 && /opt/churnops/bin/python -c "import mlflow.pyfunc, onnxruntime, skops.io, fastapi, pydantic, pandas, sqlalchemy, \
sklearn.compose, sklearn.ensemble, sklearn.impute, sklearn.linear_model, sklearn.preprocessing, uvicorn.loops.uvloop, \
uvicorn.protocols.http.httptools_impl, uvicorn.protocols.websockets.websockets_impl, psycopg2, alembic.command" \
 && rm -rf /tmp/uv /tmp/uv-*.lock
COPY pyproject.toml /src/
COPY src /src/src
# The package's metadata names README.md; a stub keeps documentation edits from rebuilding the image.
RUN --mount=type=cache,target=/root/.cache/uv --mount=type=cache,target=/root/.cache/pip \
    echo "churnops: see the project's README" > /src/README.md \
 && python3 -m venv /tmp/uv && /tmp/uv/bin/pip install --quiet "uv==${UV_VERSION}" \
 && /tmp/uv/bin/uv sync --frozen --no-dev --no-editable --python python3 \
 && /opt/churnops/bin/python -c "import churnops.cli, churnops.serving.app, churnops.model.served" \
 && rm -rf /tmp/uv /tmp/uv-*.lock

# PORT: Cloud Run and Heroku set it; 8080 otherwise. The prediction store defaults to SQLite in the
# home folder (mount a volume there, or point CHURNOPS_STORE_URL at PostgreSQL).
ENV PATH=/opt/churnops/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PORT=8080 \
    CHURNOPS_STORE_URL=sqlite:////home/churnops/predictions.db
USER 10001:10001
WORKDIR /home/churnops
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8080'), timeout=4)"]
# exec: the server is PID 1 and gets the container's SIGTERM (a graceful drain of the store).
CMD ["sh", "-c", "exec churnops serve --host 0.0.0.0 --port \"${PORT}\""]
# Last, so a new commit changes only this layer: everything above stays cached.
ARG VERSION=0.1.0
ARG GIT_COMMIT=unknown
LABEL org.opencontainers.image.title="churnops-api" \
      org.opencontainers.image.description="churnops prediction API: serves the registered champion and stores every prediction" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.licenses="MIT"
