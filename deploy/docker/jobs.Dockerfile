# The training and jobs image: every churnops command (pipeline, monitor, score, schedule) with all
# optional groups but llm and spark (no model file, no Java), plus the full MLflow (its `mlflow server` runs the stack's tracking server).
# Build from the repository root:
#   docker build -f deploy/docker/jobs.Dockerfile -t churnops-jobs .     (or: make image)
#   docker run --rm churnops-jobs pipeline --dataset telco --data /data/telco.csv
ARG BASE_IMAGE=python:3.11-slim-bookworm

# One stage, the layers in the order they change: system packages and the user, the locked dependencies
# (rebuilt only when uv.lock changes), then the package (a code change
# rebuilds only that small layer), labels last. No multi-stage COPY of the whole 1.8 GB environment, which
# every commit redid.
FROM ${BASE_IMAGE}
ARG UV_VERSION=0.13.9
# Build-time only (ARG, not ENV). UV_NATIVE_TLS/PIP_CERT: trust the system's CA store (a build behind a
# TLS-inspecting proxy mounts its CA there).
ARG UV_NATIVE_TLS=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/opt/churnops \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
# LightGBM (a model family of the search) links the system's OpenMP runtime, which slim Debian images lack.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1=12.2.0-14+deb12u1 && rm -rf /var/lib/apt/lists/*
# /mlartifacts: the compose stack's MLflow artifact store (deploy/compose.yaml): an empty named volume mounted
# here takes this folder's owner on Docker (podman gives it the container's user anyway).
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/churnops churnops \
 && install -d -o 10001 -g 10001 /mlartifacts
WORKDIR /src
# The dependency layer is keyed on uv.lock alone (what `uv sync --frozen` installs): COPY checksums it, while buildah
# does not checksum bind mounts (buildah#5400), so pyproject.toml is only bind-mounted here and an edit of it that
# is not a new lock (tool settings) does not reinstall the dependencies.
COPY uv.lock /src/
# uv exists only inside each installing step (pip-installed into /tmp, removed before the layer is committed):
# the image has no uv, pip or caches. The test suites of numpy, pandas, scipy and scikit-learn are dropped
# (about 100 MB; other packages' `tests` may be code they import) and the rest compiled once, so the
# container starts without compiling (it runs as a user who cannot write there).
RUN --mount=type=cache,target=/root/.cache/uv --mount=type=cache,target=/root/.cache/pip \
    --mount=type=bind,source=pyproject.toml,target=/src/pyproject.toml \
    python3 -m venv /tmp/uv && /tmp/uv/bin/pip install --quiet "uv==${UV_VERSION}" \
 && /tmp/uv/bin/uv sync --frozen --no-dev --all-extras --no-extra llm --no-extra spark --no-install-project --python python3 \
 && sp=/opt/churnops/lib/python3.11/site-packages && find "$sp/numpy" "$sp/pandas" "$sp/scipy" "$sp/sklearn" -depth -type d -name tests -exec rm -rf {} + \
 && python3 -m compileall -q -j 0 /opt/churnops/lib \
 && rm -rf /tmp/uv /tmp/uv-*.lock
COPY pyproject.toml /src/
COPY src /src/src
# The package's metadata names README.md; a stub keeps documentation edits from rebuilding the image.
RUN --mount=type=cache,target=/root/.cache/uv --mount=type=cache,target=/root/.cache/pip \
    echo "churnops: see the project's README" > /src/README.md \
 && python3 -m venv /tmp/uv && /tmp/uv/bin/pip install --quiet "uv==${UV_VERSION}" \
 && /tmp/uv/bin/uv sync --frozen --no-dev --all-extras --no-extra llm --no-extra spark --no-editable --python python3 \
 && python3 -m compileall -q /opt/churnops/lib/python3.11/site-packages/churnops \
 && rm -rf /tmp/uv /tmp/uv-*.lock

# MLflow's job runner (six worker processes, about 1.5 GB) is not needed to track runs.
ENV PATH=/opt/churnops/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
USER 10001:10001
WORKDIR /home/churnops
ENTRYPOINT ["churnops"]
CMD ["--help"]
# Last, so a new commit changes only this layer: everything above stays cached.
ARG VERSION=0.1.0
ARG GIT_COMMIT=unknown
LABEL org.opencontainers.image.title="churnops-jobs" \
      org.opencontainers.image.description="churnops training and jobs: pipeline, monitoring, batch scoring, schedules, mlflow server" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.licenses="MIT"
