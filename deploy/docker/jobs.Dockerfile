# The training and jobs image: every churnops command (pipeline, monitor, score, schedule) with all
# optional groups but llm and spark (no model file, no Java), plus the full MLflow (its `mlflow server` runs the stack's tracking server).
# Build from the repository root:
#   docker build -f deploy/docker/jobs.Dockerfile -t churnops-jobs .     (or: make image)
#   docker run --rm churnops-jobs pipeline --dataset telco --data /data/telco.csv
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ARG UV_VERSION=0.13.9
# UV_NATIVE_TLS: trust the system's CA store (a build behind a TLS-inspecting proxy mounts its CA there).
ENV UV_NATIVE_TLS=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/churnops PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
# Dependencies first, in their own layer: rebuilt only when the lock changes, not on every code change.
# The test suites of numpy, pandas, scipy and scikit-learn are dropped (about 100 MB; other packages' `tests`
# may be code they import) and the rest compiled once, so the container starts
# without compiling (it runs as a user who cannot write there).
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=/src/uv.lock \
    --mount=type=bind,source=pyproject.toml,target=/src/pyproject.toml \
    /opt/uv/bin/uv sync --frozen --no-dev --all-extras --no-extra llm --no-extra spark --no-install-project --python python3 \
 && sp=/opt/churnops/lib/python3.11/site-packages && find "$sp/numpy" "$sp/pandas" "$sp/scipy" "$sp/sklearn" -depth -type d -name tests -exec rm -rf {} + \
 && python3 -m compileall -q -j 0 /opt/churnops/lib
COPY pyproject.toml uv.lock /src/
COPY src /src/src
# The package's metadata names README.md; a stub keeps documentation edits from rebuilding the image.
RUN echo "churnops: see the project's README" > /src/README.md
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv sync --frozen --no-dev --all-extras --no-extra llm --no-extra spark --no-editable --python python3 \
 && python3 -m compileall -q /opt/churnops/lib/python3.11/site-packages/churnops

FROM ${BASE_IMAGE}
# LightGBM (a model family of the search) links the system's OpenMP runtime, which slim Debian images lack.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1=12.2.0-14+deb12u1 && rm -rf /var/lib/apt/lists/*
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/churnops churnops
COPY --from=build /opt/churnops /opt/churnops
# The compose stack's MLflow artifact store (deploy/compose.yaml): an empty named volume mounted here takes
# this folder's owner on Docker (podman gives it the container's user anyway).
RUN install -d -o 10001 -g 10001 /mlartifacts
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
