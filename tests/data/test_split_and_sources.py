"""The train/validation/test split, the data fingerprint, data sources (local and http) and the synthetic data set."""

from __future__ import annotations

import functools
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from churnops.data import sources, synthetic
from churnops.data.contract import DatasetContract
from churnops.data.loading import Dataset, fingerprint, load_dataset
from churnops.data.split import Split, split_dataset
from churnops.errors import SourceError

# --- split -------------------------------------------------------------------------------------


def _parts(split: Split) -> dict[str, pd.Series]:
    return {"train": split.train.target, "validation": split.validation.target, "test": split.test.target}


def _ids(split: Split) -> dict[str, set[str]]:
    parts = {"train": split.train.ids, "validation": split.validation.ids, "test": split.test.ids}
    return {name: set(ids) for name, ids in parts.items() if ids is not None}


def test_split_sizes_add_up_to_the_dataset(telco: Dataset, telco_split: Split) -> None:
    sizes = telco_split.sizes()
    assert sum(sizes.values()) == telco.n_rows
    assert sizes["test"] == pytest.approx(0.2 * telco.n_rows, abs=1)
    assert sizes["validation"] == pytest.approx(0.1 * telco.n_rows, abs=1)


def test_split_is_stratified_on_the_target(telco: Dataset, telco_split: Split) -> None:
    overall = telco.target.mean()
    for name, target in _parts(telco_split).items():
        assert abs(target.mean() - overall) < 0.01, name


def test_no_customer_is_in_two_parts(telco: Dataset, telco_split: Split) -> None:
    ids = _ids(telco_split)
    assert not ids["train"] & ids["validation"]
    assert not ids["train"] & ids["test"]
    assert not ids["validation"] & ids["test"]
    assert ids["train"] | ids["validation"] | ids["test"] == set(telco.ids)  # type: ignore[arg-type]


def test_features_target_and_ids_stay_aligned(telco: Dataset, telco_split: Split) -> None:
    test = telco_split.test
    assert test.ids is not None and telco.ids is not None
    by_id = pd.DataFrame({"id": telco.ids, "target": telco.target, "tenure": telco.features["tenure"]}).set_index("id")
    expected = by_id.loc[test.ids.to_numpy()]
    assert (expected["target"].to_numpy() == test.target.to_numpy()).all()
    assert (expected["tenure"].to_numpy() == test.features["tenure"].to_numpy()).all()


def test_same_seed_gives_the_same_split(telco: Dataset, telco_split: Split) -> None:
    again = split_dataset(telco, test_size=0.2, validation_size=0.1, seed=42)
    assert _ids(again) == _ids(telco_split)


def test_different_seed_gives_a_different_split(telco: Dataset, telco_split: Split) -> None:
    other = split_dataset(telco, test_size=0.2, validation_size=0.1, seed=43)
    assert _ids(other)["test"] != _ids(telco_split)["test"]
    assert len(_ids(other)["test"]) == len(_ids(telco_split)["test"])


# --- fingerprint -------------------------------------------------------------------------------


def test_fingerprint_is_stable_for_equal_content(telco: Dataset) -> None:
    assert fingerprint(telco.features.copy(), telco.target.copy()) == telco.fingerprint


def test_fingerprint_changes_when_one_feature_cell_changes(telco: Dataset) -> None:
    features = telco.features.copy()
    features.loc[features.index[100], "MonthlyCharges"] += 0.01
    assert fingerprint(features, telco.target) != telco.fingerprint


def test_fingerprint_changes_when_one_label_flips(telco: Dataset) -> None:
    target = telco.target.copy()
    target.iloc[100] = 1 - target.iloc[100]
    assert fingerprint(telco.features, target) != telco.fingerprint


def test_fingerprint_changes_when_one_cell_in_the_file_changes(
    tmp_path: Path, contract: DatasetContract, telco_frame: pd.DataFrame, telco: Dataset
) -> None:
    frame = telco_frame.copy()
    frame.loc[0, "PaymentMethod"] = "Mailed check"  # was "Electronic check"
    frame.to_csv(tmp_path / "changed.csv", index=False)
    assert load_dataset(tmp_path / "changed.csv", contract).fingerprint != telco.fingerprint


# --- sources: local paths ----------------------------------------------------------------------


def test_resolve_local_path_with_matching_sha256(telco_csv: Path) -> None:
    assert sources.resolve(str(telco_csv), Path("unused"), sources.sha256_of(telco_csv)) == telco_csv


def test_resolve_local_path_with_wrong_sha256_raises(telco_csv: Path) -> None:
    with pytest.raises(SourceError) as caught:
        sources.resolve(str(telco_csv), Path("unused"), "0" * 64)
    assert str(telco_csv) in str(caught.value)
    assert "0" * 64 in str(caught.value)


def test_resolve_rejects_unsupported_scheme() -> None:
    with pytest.raises(SourceError, match="Unsupported data source 'ftp://example.org/telco.csv'"):
        sources.resolve("ftp://example.org/telco.csv", Path("unused"))


def test_shipped_contract_checksum_matches_the_real_file(contract: DatasetContract, telco_csv: Path) -> None:
    assert contract.download is not None
    assert sources.sha256_of(telco_csv) == contract.download.sha256


# --- sources: downloads from a local http server -----------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (signature of the base class)
        pass


@pytest.fixture()
def served_telco(tmp_path: Path, telco_csv: Path) -> Iterator[str]:
    """A URL of a copy of the Telco file on a local http server (torn down after the test)."""
    folder = tmp_path / "served"
    folder.mkdir()
    shutil.copyfile(telco_csv, folder / "telco.csv")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/telco.csv"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_download_keeps_the_file_when_the_sha256_matches(served_telco: str, tmp_path: Path, telco_csv: Path) -> None:
    destination = tmp_path / "cache" / "telco.csv"
    result = sources.download(served_telco, destination, sources.sha256_of(telco_csv), timeout=10)
    assert result == destination
    assert destination.read_bytes() == telco_csv.read_bytes()
    assert not destination.with_name("telco.csv.part").exists()


def test_download_with_wrong_sha256_raises_and_keeps_nothing(served_telco: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(SourceError) as caught:
        sources.download(served_telco, cache / "telco.csv", "f" * 64, timeout=10)
    assert served_telco in str(caught.value)
    assert "f" * 64 in str(caught.value)
    assert list(cache.iterdir()) == []


def test_download_with_wrong_sha256_does_not_replace_a_good_file(served_telco: str, tmp_path: Path) -> None:
    destination = tmp_path / "cache" / "telco.csv"
    destination.parent.mkdir()
    destination.write_text("previous good content", encoding="utf-8")
    with pytest.raises(SourceError):
        sources.download(served_telco, destination, "f" * 64, timeout=10)
    assert destination.read_text(encoding="utf-8") == "previous good content"


def test_resolve_url_downloads_into_the_cache_and_reuses_a_verified_file(
    served_telco: str, tmp_path: Path, telco_csv: Path, contract: DatasetContract, telco: Dataset
) -> None:
    cache = tmp_path / "cache"
    checksum = sources.sha256_of(telco_csv)
    path = sources.resolve(served_telco, cache, checksum)
    assert path == cache / "telco.csv"
    assert load_dataset(path, contract).fingerprint == telco.fingerprint
    # a second resolve with the same checksum does not fetch again: it works with the URL unreachable
    unreachable = "http://127.0.0.1:9/telco.csv"
    assert sources.resolve(unreachable, cache, checksum) == path


def test_download_from_unreachable_url_raises(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/x.csv"
    with pytest.raises(SourceError) as caught:
        sources.download(url, tmp_path / "cache" / "x.csv", None, timeout=5)
    assert f"Could not download '{url}'" in str(caught.value)
    assert list((tmp_path / "cache").iterdir()) == []


def test_download_of_missing_path_on_server_raises(served_telco: str, tmp_path: Path) -> None:
    url = served_telco.replace("telco.csv", "absent.csv")
    with pytest.raises(SourceError, match="404"):
        sources.download(url, tmp_path / "cache" / "absent.csv", None, timeout=10)
    assert not (tmp_path / "cache" / "absent.csv").exists()


# --- synthetic data ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_dataset(synthetic_csv: Path, contract: DatasetContract) -> Dataset:
    return load_dataset(synthetic_csv, contract)


def test_synthetic_data_passes_the_contract(synthetic_dataset: Dataset, contract: DatasetContract) -> None:
    assert synthetic_dataset.n_rows == 1500
    assert list(synthetic_dataset.features.columns) == contract.feature_columns
    assert 0.1 < synthetic_dataset.target.mean() < 0.5


def test_synthetic_data_has_the_real_file_quirks(synthetic_dataset: Dataset) -> None:
    features = synthetic_dataset.features
    assert set(features["SeniorCitizen"]) == {"No", "Yes"}  # written as 0/1, mapped by the contract
    blank = features["TotalCharges"].isna()
    assert blank.any()
    assert (features.loc[blank, "tenure"] == 0).all()


def test_synthetic_data_is_seeded() -> None:
    pd.testing.assert_frame_equal(synthetic.generate(rows=300, seed=3), synthetic.generate(rows=300, seed=3))
    assert not synthetic.generate(rows=300, seed=3).equals(synthetic.generate(rows=300, seed=4))


def _churn_rate(dataset: Dataset, column: str, value: str) -> float:
    return float(dataset.target[dataset.features[column] == value].mean())


def test_synthetic_month_to_month_churns_more_than_two_year(synthetic_dataset: Dataset) -> None:
    month_to_month = _churn_rate(synthetic_dataset, "Contract", "Month-to-month")
    two_year = _churn_rate(synthetic_dataset, "Contract", "Two year")
    assert month_to_month > two_year + 0.1


def test_synthetic_fibre_churns_more_than_dsl(synthetic_dataset: Dataset) -> None:
    fibre = _churn_rate(synthetic_dataset, "InternetService", "Fiber optic")
    assert fibre > _churn_rate(synthetic_dataset, "InternetService", "DSL")
