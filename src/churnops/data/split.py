"""A stratified, seeded train / validation / test split."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from churnops.data.loading import Dataset


@dataclass(frozen=True)
class Part:
    features: pd.DataFrame
    target: pd.Series
    ids: pd.Series | None


@dataclass(frozen=True)
class Split:
    train: Part
    validation: Part
    test: Part

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train.target), "validation": len(self.validation.target), "test": len(self.test.target)}


def split_dataset(dataset: Dataset, test_size: float, validation_size: float, seed: int) -> Split:
    """Test first, then validation out of the rest; both stratified on the target."""
    positions = pd.RangeIndex(dataset.n_rows)
    rest, test = train_test_split(positions, test_size=test_size, stratify=dataset.target, random_state=seed)
    train, validation = train_test_split(rest, test_size=validation_size / (1 - test_size), stratify=dataset.target.iloc[rest], random_state=seed)
    return Split(*(_part(dataset, part) for part in (train, validation, test)))


def _part(dataset: Dataset, positions: pd.Index) -> Part:
    ids = dataset.ids.iloc[positions] if dataset.ids is not None else None
    return Part(dataset.features.iloc[positions], dataset.target.iloc[positions], ids)


def split_around(dataset: Dataset, held_out: pd.Series, test: Part, test_size: float, validation_size: float, seed: int) -> Split:
    """Train / validation from the rows not `held_out` (same proportions as `split_dataset`); `test` given.

    Used when the test rows are fixed in advance (the registry's evaluation set): they never train.
    """
    positions = pd.RangeIndex(dataset.n_rows)[~held_out.to_numpy()]
    train, validation = train_test_split(
        positions, test_size=validation_size / (1 - test_size), stratify=dataset.target.iloc[positions], random_state=seed
    )
    return Split(_part(dataset, train), _part(dataset, validation), test)
