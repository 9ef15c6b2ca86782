"""Load the dashboard's saved objects into Kibana through its saved-objects import API."""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx

from churnops.errors import ChurnopsError, ConfigError

DASHBOARD = Path("deploy/kibana/churnops-dashboard.ndjson")


def import_saved_objects(kibana_url: str, path: Path = DASHBOARD, api_key: str | None = None, space: str | None = None) -> dict[str, Any]:
    """POST the NDJSON to /api/saved_objects/_import (overwriting earlier imports); returns Kibana's answer."""
    if not path.is_file():
        raise ConfigError(f"Saved objects file {path} does not exist. Pass --file with the NDJSON (the repository ships {DASHBOARD}).")
    base = kibana_url.rstrip("/") + (f"/s/{space}" if space else "")
    headers = {"kbn-xsrf": "churnops"}  # Kibana refuses API writes without it
    if api_key:
        headers["Authorization"] = f"ApiKey {api_key}"
    try:
        response = httpx.post(
            f"{base}/api/saved_objects/_import",
            params={"overwrite": "true"},
            files={"file": (path.name, path.read_bytes(), "application/ndjson")},
            headers=headers,
            timeout=30.0,
        )
    except httpx.HTTPError as error:
        raise ChurnopsError(f"Kibana {kibana_url} is not reachable ({type(error).__name__}: {error}). Check CHURNOPS_KIBANA_URL / --url.") from None
    if response.status_code >= HTTPStatus.BAD_REQUEST:
        raise ChurnopsError(f"Kibana {kibana_url} refused the import: HTTP {response.status_code} {response.text[:500]}")
    answer: dict[str, Any] = response.json()
    if not answer.get("success", False):
        problems = "; ".join(f"{error.get('type')} {error.get('id')}: {error.get('error', {}).get('type')}" for error in answer.get("errors", []))
        raise ChurnopsError(f"Kibana imported {answer.get('successCount', 0)} objects but refused others: {problems}")
    return answer
