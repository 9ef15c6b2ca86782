"""The pipeline's four steps as Azure ML command components, each one `churnops` command.

A step hands its result to the next as a uri_folder output holding the JSON report its command wrote with
`--report`; the next command reads it (`--validated`, `--training-report`, `--evaluation-report`). Every step
also gets the training data itself, mounted where Azure ML chooses, hence `--data` on evaluate and register:
the data is checked against the training run's fingerprint wherever it is mounted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from azure.ai.ml import Input, Output
from azure.ai.ml.entities import CommandComponent

# Azure ML sets MLFLOW_TRACKING_URI (the workspace) in every job: the tracked steps hand it to churnops rather than
# choosing a store of their own, and fail at once if it is missing. Azure ML runs commands with bash.
TRACKED = 'CHURNOPS_TRACKING_URI="${MLFLOW_TRACKING_URI:?is set by Azure ML in every job}" python -m churnops'
UNTRACKED = "python -m churnops"

# The report each step writes into its output folder.
REPORTS = {"validation": "validation.json", "training": "training.json", "evaluation": "evaluation.json", "decision": "decision.json"}


def _report(side: str, kind: str) -> str:
    """`"${{outputs.training}}/training.json"`: a report in a step's input or output folder, as Azure ML substitutes it."""
    return '"${{' + side + "." + kind + "}}/" + REPORTS[kind] + '"'


DATA = '"${{inputs.data}}"'

COMMANDS = {
    "validate": f"{UNTRACKED} validate --data {DATA} --report {_report('outputs', 'validation')}",
    "train": f"{TRACKED} train --data {DATA} --validated {_report('inputs', 'validation')} --json --report {_report('outputs', 'training')}",
    "evaluate": (
        f"{TRACKED} evaluate --training-report {_report('inputs', 'training')} --data {DATA} --json --report {_report('outputs', 'evaluation')}"
    ),
    "register": (
        f"{TRACKED} register --training-report {_report('inputs', 'training')} --evaluation-report {_report('inputs', 'evaluation')} "
        f"--data {DATA} --report {_report('outputs', 'decision')}"
    ),
}


@dataclass(frozen=True)
class Steps:
    validate: CommandComponent
    train: CommandComponent
    evaluate: CommandComponent
    register: CommandComponent


def build_steps(environment: str, code: Path | str) -> Steps:
    """The four components on `environment` (azureml:name:version) with `code` (the repository's src/) as their snapshot."""

    def component(step: str, description: str, inputs: list[str], output: str, deterministic: bool) -> CommandComponent:
        return CommandComponent(
            name=f"churnops_{step}",
            display_name=step,
            description=description,
            inputs={name: Input(type="uri_file") if name == "data" else Input(type="uri_folder") for name in inputs},
            outputs={output: Output(type="uri_folder")},
            command=COMMANDS[step],
            environment=environment,
            code=str(code),
            # Azure ML reuses a deterministic step's earlier output for the same inputs; training, evaluation and the gate
            # depend on the registry's state (the champion and its evaluation set), so they always run.
            is_deterministic=deterministic,
        )

    return Steps(
        validate=component(
            "validate", "Check the data against the dataset contract; the report holds its fingerprint.", ["data"], "validation", True
        ),
        train=component("train", "Search, fit and log the model, on exactly the validated data.", ["data", "validation"], "training", False),
        evaluate=component(
            "evaluate", "Score the training run's model on the trusted evaluation set; ONNX parity.", ["data", "training"], "evaluation", False
        ),
        register=component(
            "register",
            "Register the model (@challenger) and promote it to @champion only through the gate.",
            ["data", "training", "evaluation"],
            "decision",
            False,
        ),
    )
