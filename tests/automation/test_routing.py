"""`gates_for`: which make targets a batch of changed paths concerns, in the order they run."""

from __future__ import annotations

from pathlib import Path

import pytest

from churnops.automation.watch import CODE_GATES, GATE_ORDER, gates_for, is_ignored

ROOT = Path("/work/project")
CODE = list(CODE_GATES)
TRAINING = [*CODE_GATES, "reference-pipeline"]


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        # code
        ("src/churnops/serving/app.py", CODE),
        ("src/churnops/cli.py", CODE),
        ("tests/test_registry.py", CODE),
        ("benchmarks/train.py", CODE),
        ("scripts/audit_dependencies.py", CODE),
        ("deploy/kibana/setup.py", CODE),
        ("src/churnops/stubs/onnxruntime.pyi", CODE),
        ("pyproject.toml", CODE),
        ("uv.lock", CODE),
        # data and contracts
        ("configs/telco.yaml", ["test-data"]),
        ("configs/other/bank.yml", ["test-data"]),
        ("data/telco.csv", ["test-data"]),
        ("data/raw/2026/customers.csv", ["test-data"]),
        ("src/churnops/data/contract.py", [*CODE_GATES, "test-data"]),
        ("src/churnops/data/schemas/extra.json", ["test-data"]),
        # training code: the code gates and the reference pipeline
        ("src/churnops/training/search.py", TRAINING),
        ("src/churnops/training/nested/module.py", TRAINING),
        ("src/churnops/training/families.yaml", TRAINING),
        ("src/churnops/features.py", TRAINING),
        ("src/churnops/training/pipeline.py", TRAINING),
        ("src/churnops/model/writer.py", TRAINING),
        # deployment files: the offline manifest checks; hadolint for a Dockerfile
        ("deploy/docker/api.Dockerfile", ["lint", "test-deploy"]),
        ("heroku.Dockerfile", ["lint", "test-deploy"]),
        ("deploy/k8s/overlays/prod/kustomization.yaml", ["test-deploy"]),
        ("deploy/ecs/task-definition.json", ["test-deploy"]),
        ("deploy/compose.yaml", ["test-deploy"]),
        ("app.json", ["test-deploy"]),
        ("deploy/azureml/pipeline.py", [*CODE_GATES, "test-deploy"]),
    ],
)
def test_each_kind_of_change_runs_its_gates(changed: str, expected: list[str]) -> None:
    assert gates_for([ROOT / changed], ROOT) == expected
    assert gates_for([changed], ROOT) == expected  # relative paths are read from the root


@pytest.mark.parametrize(
    "changed",
    [
        "README.md",
        "Makefile",
        "MLproject",
        "src/churnops/notes.txt",  # not Python
        "configs/telco.json",  # not a contract
        "data/telco.parquet",  # not a CSV
        "telco.csv",  # data outside data/
        "setup.py",  # Python outside the code folders
        "docs/conf.py",
        "deploy/prometheus/prometheus.yml",
        "src",  # a folder event
    ],
)
def test_changes_no_gate_concerns_run_nothing(changed: str) -> None:
    assert gates_for([ROOT / changed], ROOT) == []


@pytest.mark.parametrize(
    "changed",
    [
        ".git/index",
        ".git/hooks/pre-commit.py",
        ".venv/lib/python3.11/site-packages/mlflow/__init__.py",
        "src/churnops/__pycache__/pipeline.cpython-311.pyc",
        "tests/__pycache__/conftest.cpython-311-pytest-8.4.2.pyc",
        ".mypy_cache/3.11/churnops/pipeline.data.json",
        ".ruff_cache/0.17.0/12345",
        ".pytest_cache/v/cache/lastfailed",
        "mlruns/0/abc/meta.yaml",
        "mlartifacts/churn-training/abc/artifacts/model/python_model.py",
        "mlflow.db",
        "predictions.db-wal",
        "configs/cache.db",
        ".churnops/gates/lint.log",
        ".churnops/retrain/data/train.csv",
        "node_modules/pkg/index.py",
        "src/churnops.egg-info/PKG-INFO",
        # editor temp files next to routed files
        "src/churnops/.pipeline.py.swp",
        "src/churnops/pipeline.py~",
        "src/churnops/.#pipeline.py",
        "src/churnops/#pipeline.py#",
        "src/churnops/4913",
        "src/churnops/pipeline.py___jb_tmp___",
        "configs/telco.yaml.tmp",
        "configs/.telco.yaml.kate-swp",
        "src/churnops/flycheck_pipeline.py",
        "data/.DS_Store",
    ],
)
def test_noise_is_ignored(changed: str) -> None:
    assert is_ignored(Path(changed))
    assert gates_for([ROOT / changed], ROOT) == []


def test_a_batch_runs_the_union_in_a_fixed_order_once_each() -> None:
    batch = [
        ROOT / "src/churnops/training/pipeline.py",
        ROOT / "configs/telco.yaml",
        ROOT / "tests/test_registry.py",
        ROOT / "deploy/k8s/base/deployment.yaml",
        ROOT / "mlflow.db",
        ROOT / "README.md",
    ]
    assert gates_for(batch, ROOT) == list(GATE_ORDER)
    assert gates_for(reversed(batch), ROOT) == list(GATE_ORDER)
    assert gates_for([ROOT / "configs/telco.yaml", ROOT / "src/churnops/cli.py"], ROOT) == ["lint", "typecheck", "test-unit", "test-data"]


def test_paths_outside_the_root_and_empty_batches_run_nothing() -> None:
    assert gates_for([], ROOT) == []
    assert gates_for([Path("/elsewhere/src/churnops/training/pipeline.py"), Path("/work/project-other/src/x.py")], ROOT) == []
    assert gates_for([ROOT], ROOT) == []


def test_the_root_itself_may_sit_inside_an_ignored_looking_folder() -> None:
    """Only the path below the root is judged: a checkout kept under a folder named mlartifacts/ still works."""
    root = Path("/srv/mlartifacts/checkouts/churnops")
    assert gates_for([root / "src/churnops/cli.py"], root) == CODE


def test_a_symlinked_root_matches_its_resolved_paths(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "configs").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    assert gates_for([real / "configs" / "telco.yaml"], link) == ["test-data"]
