"""The prediction API as the front end sees it: one method per endpoint, failures as readable `ApiError`s."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from churnops.data.contract import DatasetContract

COMMENT_TIMEOUT = httpx.Timeout(300.0, connect=5.0)
TIMEOUT = httpx.Timeout(30.0, connect=3.0)


class ApiError(Exception):
    """The API could not be reached or refused the request; `str()` says why in words a person can act on."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass(frozen=True)
class ServedContract:
    contract: DatasetContract
    example: dict[str, Any]  # a typical training customer of the served version: the form's defaults


class ApiClient:
    def __init__(self, base_url: str, timeout: httpx.Timeout = TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def readiness(self) -> dict[str, Any]:
        """/ready's body, whether the answer is 200 or 503 (its `reasons` say why it is not ready)."""
        response = self._send("GET", "/ready")
        if response.status_code not in (200, 503):
            raise _error(response)
        body = self._body(response)
        if not {"ready", "reasons"} <= body.keys():
            raise ApiError(f"{self.base_url}/ready is not the prediction API's readiness answer: is CHURNOPS_API_URL the churnops API?")
        return body

    def model(self) -> dict[str, Any]:
        return self._json("GET", "/model")

    def contract(self) -> ServedContract:
        body = self._json("GET", "/contract")
        return ServedContract(DatasetContract.model_validate(body["contract"]), dict(body["example"]))

    def predict(self, customer: dict[str, Any]) -> dict[str, Any]:
        """Scored and stored, like any production prediction."""
        return self._json("POST", "/predict", json=customer)

    def explain(self, customer: dict[str, Any]) -> dict[str, Any]:
        """Scored, not stored: the probability and what moves it (for the 'why' and 'what if' views)."""
        return self._json("POST", "/explain", json=customer)

    def predict_batches(self, customers: list[dict[str, Any]], batch_size: int) -> Iterator[list[dict[str, Any]]]:
        """/predict/batch in chunks of `batch_size`, yielding each chunk's predictions (in order) as it comes back."""
        for start in range(0, len(customers), batch_size):
            yield self._json("POST", "/predict/batch", json={"customers": customers[start : start + batch_size]})["predictions"]

    def analyze_comment(self, comment: dict[str, Any]) -> dict[str, Any]:
        """One comment through the API's LLM analysis (stored there); a small model takes seconds, a retry twice that."""
        return self._json("POST", "/comments/analyze", json=comment, timeout=COMMENT_TIMEOUT)

    def promote(self, version: str, reason: str, api_key: str) -> dict[str, Any]:
        return self._json("POST", "/admin/promote", json={"version": version, "reason": reason}, headers=_admin(api_key))

    def rollback(self, api_key: str) -> dict[str, Any]:
        return self._json("POST", "/admin/rollback", headers=_admin(api_key))

    def _json(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        response = self._send(method, path, **options)
        if response.status_code >= 400:  # noqa: PLR2004 - HTTP error statuses
            raise _error(response)
        return self._body(response)

    def _body(self, response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):  # a proxy's HTML error page, or another service at that address
            raise ApiError(
                f"{response.request.method} {response.request.url.path} at {self.base_url} did not answer JSON (status {response.status_code}): "
                "is CHURNOPS_API_URL the churnops prediction API?",
                response.status_code,
            )
        return body

    def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **options)
        except httpx.TimeoutException:
            raise ApiError(f"The prediction API at {self.base_url} did not answer {method} {path} in time; is it overloaded?") from None
        except httpx.HTTPError as error:
            raise ApiError(
                f"The prediction API at {self.base_url} cannot be reached ({type(error).__name__}): start it with `churnops serve`, "
                "or point CHURNOPS_API_URL at it."
            ) from None


def _admin(api_key: str) -> dict[str, str]:
    """The key as typed or pasted (surrounding spaces and newlines dropped); HTTP headers carry ASCII only."""
    key = api_key.strip()
    if not key.isascii() or not key.isprintable():
        raise ApiError("The admin key contains characters an HTTP header cannot carry: paste the API's CHURNOPS_API_KEY exactly.")
    return {"X-API-Key": key}


def _error(response: httpx.Response) -> ApiError:
    """The API's own explanation (`detail`) when it gave one, else the status line."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):  # a 422: the API's list of problems
        text = "; ".join(f"{'.'.join(str(part) for part in issue.get('loc', [])[1:])}: {issue.get('msg')}" for issue in detail[:5])
    else:
        text = str(detail) if detail else (response.text[:300] or response.reason_phrase)
    return ApiError(f"{response.request.method} {response.request.url.path} answered {response.status_code}: {text}", response.status_code, body)
