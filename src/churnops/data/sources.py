"""Where the data comes from: a local path, an http(s) URL checked against a SHA-256, or synthetic."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

from churnops.data import synthetic
from churnops.data.contract import DatasetContract
from churnops.errors import ConfigError, SourceError
from churnops.settings import Settings

CHUNK = 1 << 16
DATA_CACHE = Path(".churnops") / "data"  # downloads, built-in synthetic files, version contracts
SYNTHETIC_PREFIX = "synthetic:"


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, destination: Path, sha256: str | None, timeout: float = 30.0) -> Path:
    """Fetch `url` to `destination`; keep it only if its SHA-256 matches (when one is given).

    The file is written next to the destination and renamed at the end, so a failed or
    corrupt download never replaces a good file.
    """
    if not is_url(url):  # urlopen would also read file: and other schemes
        raise SourceError(f"Unsupported download URL '{url}': only http(s) URLs are downloaded.")
    if destination.is_file() and sha256 and sha256_of(destination) == sha256.lower():
        return destination  # already downloaded and verified
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, partial.open("wb") as out:  # noqa: S310  # nosec B310  # http(s) checked above
            for chunk in iter(lambda: response.read(CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        partial.unlink(missing_ok=True)
        raise SourceError(f"Could not download '{url}': {error}. Check the URL and your network, or pass a local file.") from error
    actual = digest.hexdigest()
    if sha256 and actual != sha256.lower():
        partial.unlink(missing_ok=True)
        raise SourceError(
            f"Downloaded '{url}' but its SHA-256 is {actual}, not the expected {sha256.lower()}. "
            "The file changed or was corrupted; nothing was kept. Check the URL or update the expected checksum."
        )
    partial.replace(destination)
    return destination


def resolve(source: str, cache_dir: Path, sha256: str | None = None) -> Path:
    """Turn a path or URL into a local file path."""
    if is_url(source):
        name = Path(urllib.request.url2pathname(source.rsplit("/", 1)[-1])).name or "download.csv"
        return download(source, cache_dir / name, sha256)
    if "://" in source:
        raise SourceError(f"Unsupported data source '{source}': use a local path or an http(s) URL.")
    path = Path(source).expanduser()
    if sha256 and path.is_file() and sha256_of(path) != sha256.lower():
        raise SourceError(f"File '{path}' does not match the expected SHA-256 {sha256.lower()}.")
    return path


def fetch_contract_data(contract: DatasetContract, destination: Path | None = None) -> Path:
    """Download the public file a contract names (its `download` section), verified by SHA-256."""
    if contract.download is None:
        raise ConfigError(f"Contract '{contract.name}' has no 'download' section (url, sha256) to fetch from.")
    target = destination or Path("data") / f"{contract.name}.csv"
    return download(contract.download.url, target, contract.download.sha256)


def acquire_data(settings: Settings) -> tuple[Path, str]:
    """The local file to read and a description of where it came from: the configured data, else the built-in synthetic set."""
    if settings.data is None:
        path = DATA_CACHE / f"synthetic-{settings.seed}-{settings.synthetic_rows}.csv"
        synthetic.write(path, rows=settings.synthetic_rows, seed=settings.seed)
        return path, f"{SYNTHETIC_PREFIX}rows={settings.synthetic_rows},seed={settings.seed}"
    return resolve(settings.data, DATA_CACHE, settings.data_sha256), settings.data


def data_kind(source: str) -> str:
    """synthetic, url or file: recorded on every version, and what the synthetic rule reads."""
    if source.startswith(SYNTHETIC_PREFIX):
        return "synthetic"
    return "url" if is_url(source) else "file"
