"""The pre-commit hooks are valid and run exactly the Makefile's lint, typecheck and security commands."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.support.gates import OUTSIDE_VARIABLES
from tests.support.paths import ROOT
from tests.support.prerequisites import require

CONFIG = ROOT / ".pre-commit-config.yaml"


def hook_commands() -> dict[str, str]:
    config = yaml.safe_load(CONFIG.read_text())
    [local] = config["repos"]
    assert local["repo"] == "local"
    return {hook["id"]: " ".join(shlex.split(hook["entry"])) for hook in local["hooks"]}


def make_commands(*targets: str) -> list[str]:
    """What `make <targets>` would run (make -n), with the uv path as plain `uv`, without the environment sync."""
    environment = {key: value for key, value in os.environ.items() if key not in OUTSIDE_VARIABLES}
    dry_run = subprocess.run(  # noqa: S603
        ["make", "-n", "--no-print-directory", *targets],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=True,
    )
    commands = []
    for line in dry_run.stdout.splitlines():
        words = shlex.split(line)
        if words and Path(words[0]).name == "uv" and words[1:2] != ["sync"]:
            commands.append(" ".join(["uv", *words[1:]]))
    return commands


def test_pre_commit_accepts_the_config() -> None:
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "pre_commit", "validate-config", str(CONFIG)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_hook_runs_through_uv_from_the_lock_without_file_arguments() -> None:
    [local] = yaml.safe_load(CONFIG.read_text())["repos"]
    for hook in local["hooks"]:
        assert hook["language"] == "system" and hook["pass_filenames"] is False, hook["id"]
        assert hook["entry"].startswith("uv run --frozen "), hook["id"]


def test_hooks_run_the_same_commands_as_the_makefile_gates() -> None:
    require(shutil.which("make") is not None, "make is not installed")
    hooks = hook_commands()
    lint_and_typecheck = make_commands("lint", "typecheck")
    security = make_commands("security")
    assert lint_and_typecheck, "make -n printed no uv commands for lint and typecheck"
    # Every lint and typecheck command is a hook, and every hook is a gate command.
    assert set(lint_and_typecheck) <= set(hooks.values())
    assert set(hooks.values()) <= set(lint_and_typecheck) | set(security)
    # Security's bandit half is a hook; its pip-audit half needs the network and stays in make.
    bandit = [command for command in security if " bandit " in f" {command} "]
    assert bandit and bandit[0] == hooks["bandit"]
