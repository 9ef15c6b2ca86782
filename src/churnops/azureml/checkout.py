"""What the jobs are made of, from this checkout: the code snapshot (src/) and the environment's build context.

The environment's version is a digest of the build context's files, so one lock always names one environment
version and a new lock a new one. No Azure import here: the CLI uses it before the SDK is loaded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import churnops
from churnops.data.contract import BUILTIN_CONTRACTS
from churnops.errors import ConfigError

SOURCE = Path(churnops.__file__).resolve().parent.parent  # src/ in a checkout
CONTEXT = SOURCE.parent / "deploy" / "azureml" / "environment"


@dataclass(frozen=True)
class Checkout:
    code: Path  # every component's code snapshot: its `python -m churnops` is this checkout's CLI
    context: Path  # the build context (Dockerfile, locked requirements) of the image the steps run in

    @property
    def environment_version(self) -> str:
        digest = hashlib.sha256()
        for path in sorted(item for item in self.context.iterdir() if item.is_file()):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()[:16]

    def job_contract(self, dataset: Path | None) -> str | None:
        """The contract as the jobs name it: a built-in name, or a file's path inside the code snapshot (the jobs' working folder)."""
        if dataset is None or str(dataset) in BUILTIN_CONTRACTS:
            return None if dataset is None else str(dataset)
        path = dataset.resolve()
        for name, builtin in BUILTIN_CONTRACTS.items():
            if path == builtin.resolve():
                return name
        if not path.is_relative_to(self.code):
            raise ConfigError(
                f"Dataset contract {dataset} is not in the code the Azure ML jobs get ({self.code}): use a built-in contract "
                f"({', '.join(BUILTIN_CONTRACTS)}) or put the file under {self.code / 'churnops' / 'data' / 'contracts'}."
            )
        return path.relative_to(self.code).as_posix()


def checkout() -> Checkout:
    """This repository's src/ and deploy/azureml/environment/; an installed churnops without its repository cannot build jobs."""
    if not (SOURCE / "churnops" / "__main__.py").is_file() or not (CONTEXT / "Dockerfile").is_file():
        raise ConfigError(
            f"`churnops azureml` runs from a churnops repository checkout: its src/ is the jobs' code and deploy/azureml/environment/ "
            f"builds their image, and neither is beside {SOURCE}. Run it from the repository (uv run churnops azureml ...)."
        )
    return Checkout(SOURCE, CONTEXT)
