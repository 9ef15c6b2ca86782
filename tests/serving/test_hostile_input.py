"""Hostile input gets a 4xx, never a 500, and nothing is stored for it: a real `churnops serve` over real HTTP and WebSocket.

Each test here is a case observed to answer 500 (or to be accepted) before the API read its bodies strictly.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as websocket_connect

from churnops.data.contract import DatasetContract
from churnops.settings import Settings
from tests.support.registries import TrainedRegistry
from tests.support.servers import churnops_api
from tests.support.settings import api_settings
from tests.support.traffic import valid_customers
from tests.support.waiting import wait_until

API_KEY = "hostile-admin-key-41c9"
ALLOWED_ORIGIN = "https://app.example.com"
# Limits raised far above the defaults, so one batch takes long enough to validate to watch the event loop meanwhile
# (test_large_batch_validation_leaves_the_event_loop_free); the limit logic is the same at any size.
MAX_BATCH = 50_000
MAX_BODY = 32 * 1024 * 1024
JSON = {"Content-Type": "application/json"}
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e309", "-1e309"]


@pytest.fixture(scope="module")
def server(trained_registry: TrainedRegistry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings]]:
    folder = tmp_path_factory.mktemp("hostile")
    settings = api_settings(
        trained_registry, folder, api_key=API_KEY, max_batch_size=MAX_BATCH, max_body_bytes=MAX_BODY, allowed_origins=[ALLOWED_ORIGIN]
    )
    with churnops_api(settings, folder / "api.log") as url:
        yield url, settings


@pytest.fixture(scope="module")
def client(server: tuple[str, Settings]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[0], timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
def customers(synthetic_csv: Path, contract: DatasetContract) -> list[dict[str, Any]]:
    return valid_customers(synthetic_csv, contract, 20)


def stored_predictions(settings: Settings) -> dict[str, int]:
    """Rows in the prediction store by endpoint, read straight from the SQLite file."""
    engine = sa.create_engine(settings.store.url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT endpoint, COUNT(*) FROM predictions GROUP BY endpoint")).all()
    finally:
        engine.dispose()
    return {str(endpoint): int(count) for endpoint, count in rows}


class StoreWatch:
    """Counts stored predictions around a block of requests. A sentinel prediction, waited for until it is in the
    database, marks each end: the store writes in order, so every earlier record is stored by then."""

    def __init__(self, client: httpx.Client, settings: Settings, customer: dict[str, Any]) -> None:
        self.client, self.settings, self.customer = client, settings, customer
        self.before = self._sentinel()

    def _sentinel(self) -> int:
        marker = f"sentinel-{uuid.uuid4().hex}"
        assert self.client.post("/predict", json={**self.customer, "customerID": marker}).status_code == 200
        engine = sa.create_engine(self.settings.store.url)
        query = sa.text("SELECT COUNT(*) FROM predictions WHERE features LIKE :marker")
        try:
            with engine.connect() as connection:
                wait_until(lambda: connection.execute(query, {"marker": f"%{marker}%"}).scalar_one() > 0, 15, "the sentinel was not stored")
        finally:
            engine.dispose()
        return sum(stored_predictions(self.settings).values())

    def settle(self, expected_new: int = 0) -> None:
        stored = self._sentinel() - self.before - 1
        assert stored == expected_new, f"{stored - expected_new} predictions were stored for rejected requests"


def server_errors(client: httpx.Client) -> list[str]:
    return re.findall(r'^churnops_requests_total\{[^}]*status="5\d\d"[^}]*\} .*$', client.get("/metrics").text, re.MULTILINE)


def with_raw(customer: dict[str, Any], field: str, literal: str) -> bytes:
    """The customer as JSON with one field's value replaced by a raw JSON literal (NaN, 1e309, "\\ud800" ...)."""
    return json.dumps({**customer, field: "__RAW__"}).replace('"__RAW__"', literal).encode()


def test_non_finite_and_overflowing_numbers_get_422_not_500(
    client: httpx.Client, server: tuple[str, Settings], customers: list[dict[str, Any]]
) -> None:
    watch = StoreWatch(client, server[1], customers[0])
    for literal in NON_FINITE:
        single = client.post("/predict", content=with_raw(customers[0], "MonthlyCharges", literal), headers=JSON)
        assert single.status_code == 422, (literal, single.text)
        error = single.json()["detail"][0]
        assert error["type"] == "json_invalid" and "not valid JSON" in error["msg"] and "NaN, Infinity" in error["msg"], error
        batch = b'{"customers": [' + with_raw(customers[1], "tenure", literal) + b"]}"
        assert client.post("/predict/batch", content=batch, headers=JSON).status_code == 422, literal
        records = b'{"dataframe_records": [' + with_raw(customers[1], "TotalCharges", literal) + b"]}"
        invocation = client.post("/invocations", content=records, headers=JSON)
        assert invocation.status_code == 400 and "not valid JSON" in invocation.json()["message"], literal
        feedback = client.post("/feedback", content=f'{{"prediction_id": "{"0" * 32}", "churned": {literal}}}'.encode(), headers=JSON)
        assert feedback.status_code == 422, literal
        retrain = client.post("/admin/retrain", content=f'{{"trials": {literal}}}'.encode(), headers={**JSON, "X-API-Key": API_KEY})
        assert retrain.status_code == 422, literal
    watch.settle()
    assert server_errors(client) == []


def test_lone_surrogates_and_invalid_utf8_are_refused_before_anything_is_stored(
    client: httpx.Client, server: tuple[str, Settings], customers: list[dict[str, Any]]
) -> None:
    watch = StoreWatch(client, server[1], customers[0])
    bodies = [
        with_raw(customers[0], "customerID", '"\\ud800"'),  # lone high surrogate
        with_raw(customers[0], "customerID", '"x\\udfff"'),  # lone low surrogate
        json.dumps({**customers[0], "customerID": "C-"}).encode().replace(b'"C-"', b'"C-\xff\xfe"'),  # invalid UTF-8
        json.dumps({**customers[0], "customerID": "C-"}).encode().replace(b'"C-"', b'"C-\xed\xa0\x80"'),  # an encoded surrogate
    ]
    for body in bodies:
        answer = client.post("/predict", content=body, headers=JSON)
        assert answer.status_code == 422, (body[-40:], answer.text)
        assert client.post("/predict/batch", content=b'{"customers": [' + body + b"]}", headers=JSON).status_code == 422
        assert client.post("/invocations", content=b'{"inputs": [' + body + b"]}", headers=JSON).status_code == 400
    with websocket_connect(server[0].replace("http", "ws") + "/ws/predict") as ws:
        for body in bodies:
            ws.send(body)  # a binary frame: invalid UTF-8 cannot travel in a text frame
            assert json.loads(ws.recv(timeout=10))["error"] == "invalid JSON"
    watch.settle()
    assert server_errors(client) == []


def test_customer_ids_with_control_characters_are_refused(client: httpx.Client, customers: list[dict[str, Any]]) -> None:
    for value in ("C-\u0000", "line\nbreak", "\x1b[31mred"):
        answer = client.post("/predict", json={**customers[0], "customerID": value})
        assert answer.status_code == 422, value
        assert "control character" in answer.json()["detail"][0]["msg"]


def test_dataframe_split_with_non_string_column_names_gets_400(client: httpx.Client, customers: list[dict[str, Any]]) -> None:
    for columns in ([["tenure"]], [{"a": 1}], [1, 2], [None]):
        payload = {"dataframe_split": {"columns": columns, "data": [[1] * len(columns)]}}
        answer = client.post("/invocations", json=payload)
        assert answer.status_code == 400, (columns, answer.text)
        assert "column names (strings)" in answer.json()["message"]


def test_deep_nesting_gets_4xx_on_every_endpoint(client: httpx.Client, server: tuple[str, Settings], customers: list[dict[str, Any]]) -> None:
    watch = StoreWatch(client, server[1], customers[0])
    for depth in (40, 1100, 100_000):
        nested = b"[" * depth + b"]" * depth
        assert client.post("/invocations", content=b'{"dataframe_records": ' + nested + b"}", headers=JSON).status_code == 400, depth
        assert client.post("/predict", content=with_raw(customers[0], "tenure", nested.decode()), headers=JSON).status_code == 422, depth
        assert client.post("/predict/batch", content=b'{"customers": ' + nested + b"}", headers=JSON).status_code == 422, depth
        assert client.post("/feedback", content=nested, headers=JSON).status_code == 422, depth
    with websocket_connect(server[0].replace("http", "ws") + "/ws/predict") as ws:
        for depth in (40, 5000):
            ws.send("[" * depth + "]" * depth)
            assert json.loads(ws.recv(timeout=10))["error"] == "invalid JSON", depth
    watch.settle()
    assert server_errors(client) == []


def test_booleans_are_refused_for_numbers_but_numeric_strings_still_work(client: httpx.Client, customers: list[dict[str, Any]]) -> None:
    for field, value in (("tenure", True), ("TotalCharges", False), ("MonthlyCharges", True)):
        answer = client.post("/predict", json={**customers[0], field: value})
        assert answer.status_code == 422, (field, answer.text)
        error = answer.json()["detail"][0]
        assert error["loc"] == ["body", field] and "got the boolean" in error["msg"]
    as_strings = {**customers[0], "tenure": str(customers[0]["tenure"]), "MonthlyCharges": str(customers[0]["MonthlyCharges"])}
    assert client.post("/predict", json=as_strings).status_code == 200
    assert client.post("/invocations", json={"dataframe_records": [{**customers[0], "tenure": True}]}).status_code == 400


def test_bodies_over_the_limit_get_413_before_parsing(client: httpx.Client, server: tuple[str, Settings], customers: list[dict[str, Any]]) -> None:
    limit = server[1].api.max_body_bytes
    watch = StoreWatch(client, server[1], customers[0])
    huge = b'{"customers": [' + b",".join([json.dumps(customers[0]).encode()] * 225_000) + b"]}"  # about 100 MB
    assert len(huge) > 90_000_000
    for path in ("/predict", "/predict/batch", "/invocations", "/feedback", "/admin/retrain"):
        started = time.perf_counter()
        answer = client.post(path, content=huge, headers={**JSON, "X-API-Key": API_KEY})
        assert answer.status_code == 413, (path, answer.text[:300])
        assert time.perf_counter() - started < 5, "refused from Content-Length, without reading the body"
        assert "CHURNOPS_MAX_BODY_BYTES" in answer.json()["detail"] and str(limit) in answer.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts the streamed bytes
        yield b'{"dataframe_records": ['
        chunk = json.dumps(customers[1]).encode() + b","
        for _ in range(limit // (len(chunk) * 1000) + 2):
            yield chunk * 1000

    streamed = client.post("/invocations", content=chunks(), headers=JSON)
    assert streamed.status_code == 413, streamed.text[:300]
    at_limit = b" " * (limit - 2) + b"{}"
    answer = client.post("/predict", content=at_limit, headers=JSON)
    assert answer.status_code == 422, "a body of exactly the limit is read and validated"
    assert client.get("/health").status_code == 200
    watch.settle()


def test_a_422_stays_small_however_large_the_invalid_batch(client: httpx.Client, customers: list[dict[str, Any]]) -> None:
    bad = [{**customer, "gender": "x" * 500, "tenure": -1, "Contract": ["list"]} for customer in customers] * 50
    body = json.dumps({"customers": bad[:1000]}).encode()
    assert len(body) > 500_000
    started = time.perf_counter()
    answer = client.post("/predict/batch", content=body, headers=JSON)
    assert answer.status_code == 422
    assert time.perf_counter() - started < 5
    assert len(answer.content) < 20_000, f"the answer is {len(answer.content)} bytes"
    problems = answer.json()
    assert len(problems["detail"]) == 20
    assert problems["more"].startswith("and 2980 more errors (20 of 3000 shown)")
    assert problems["detail"][0]["loc"] == ["body", "customers", 0, "gender"]
    assert problems["detail"][0]["input"].endswith("(500 characters)")
    assert all("input" not in error or not isinstance(error["input"], (list, dict)) for error in problems["detail"])
    missing = client.post("/predict", json={"gender": "Female"})
    assert missing.status_code == 422 and all("input" not in error for error in missing.json()["detail"]), "the whole customer is not echoed"


def test_large_batch_validation_leaves_the_event_loop_free(
    client: httpx.Client, server: tuple[str, Settings], customers: list[dict[str, Any]]
) -> None:
    """50,000 customers (the last one invalid, so nothing is scored): parsed and validated in a worker thread
    while /health keeps answering. On the event loop, no /health request could be answered meanwhile."""
    rows = [customers[0]] * (MAX_BATCH - 1) + [{**customers[0], "tenure": -1}]
    body = json.dumps({"customers": rows}).encode()
    probes: list[tuple[float, float]] = []
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=server[0], timeout=60) as http:
            while not done.is_set():
                started = time.perf_counter()
                assert http.get("/health").status_code == 200
                probes.append((started, time.perf_counter()))
                time.sleep(0.01)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        time.sleep(0.2)
        started = time.perf_counter()
        answer = client.post("/predict/batch", content=body, headers=JSON)
        ended = time.perf_counter()
    finally:
        done.set()
        prober.join()
    assert answer.status_code == 422, answer.text[:300]
    assert answer.json()["detail"][0]["loc"] == ["body", "customers", MAX_BATCH - 1, "tenure"]
    during = [probe for probe in probes if probe[0] > started and probe[1] < ended]
    assert ended - started > 0.5, f"the batch took {ended - started:.2f}s: too quick to show anything"
    assert len(during) >= 10, f"only {len(during)} /health answers during a {ended - started:.1f}s batch"


def test_only_allowed_hosts_are_answered(client: httpx.Client, server: tuple[str, Settings]) -> None:
    port = server[0].rsplit(":", 1)[1]
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.2", "localhost.evil.example"):
        answer = client.get("/health", headers={"Host": host})
        assert answer.status_code == 400, host
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}"):
        assert client.get("/health", headers={"Host": host}).status_code == 200, host
    with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as raw:  # a WebSocket handshake naming a foreign host
        raw.sendall(
            b"GET /ws/predict HTTP/1.1\r\nHost: evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert raw.recv(1024).split(b"\r\n")[0].startswith(b"HTTP/1.1 400"), "the handshake is refused"


def test_websocket_origins_and_cors_follow_the_allowed_origins(
    server: tuple[str, Settings], client: httpx.Client, customers: list[dict[str, Any]]
) -> None:
    url = server[0].replace("http", "ws") + "/ws/predict"
    with pytest.raises(InvalidStatus) as refused:
        websocket_connect(url, origin="https://evil.example")
    assert refused.value.response.status_code == 403
    for origin in (ALLOWED_ORIGIN, None):  # an allowed browser origin, and a client that sends no Origin at all
        with websocket_connect(url, origin=origin) as ws:
            ws.send(json.dumps(customers[0]))
            assert "churn_probability" in json.loads(ws.recv(timeout=10))
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    allowed = client.options("/predict", headers={"Origin": ALLOWED_ORIGIN, **preflight})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    foreign = client.options("/predict", headers={"Origin": "https://evil.example", **preflight})
    assert foreign.status_code == 400 and "access-control-allow-origin" not in foreign.headers
    simple = client.post("/predict", json=customers[0], headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers  # the browser does not hand the answer to the foreign page


def test_websocket_answers_every_bad_message_and_stays_open(
    server: tuple[str, Settings], client: httpx.Client, customers: list[dict[str, Any]]
) -> None:
    watch = StoreWatch(client, server[1], customers[0])
    bad: list[str | bytes] = [
        '{"tenure": NaN}',
        with_raw(customers[0], "MonthlyCharges", "1e309").decode(),
        with_raw(customers[0], "customerID", '"\\ud800"').decode(),
        b"\xff\xfe\x00",
        "[" * 5000 + "]" * 5000,
        "",
        "[]",
        '"a string"',
        "{}",
        json.dumps({**customers[0], "tenure": True}),
        json.dumps({**customers[0], "customerID": "x" * 1_000_000}),
        json.dumps({**customers[0], "k" * 100_000: 1}),
    ]
    with websocket_connect(server[0].replace("http", "ws") + "/ws/predict", max_size=None) as ws:
        for message in bad:
            ws.send(message)
            answer = ws.recv(timeout=10)
            assert len(answer) < 20_000, "an error answer echoes little"
            assert "error" in json.loads(answer), (str(message)[:80], answer[:300])
        ws.send(json.dumps(customers[2]).encode())  # a valid customer in a binary frame
        assert "churn_probability" in json.loads(ws.recv(timeout=10))
        ws.send(json.dumps(customers[3]))
        assert "churn_probability" in json.loads(ws.recv(timeout=10))
    watch.settle(expected_new=2)


def test_duplicate_keys_last_one_wins_everywhere(server: tuple[str, Settings], client: httpx.Client, customers: list[dict[str, Any]]) -> None:
    customer = {**customers[4], "tenure": 60, "Contract": "Two year"}
    expected = client.post("/predict", json=customer).json()["churn_probability"]
    first = json.dumps({"tenure": 1, "Contract": "Month-to-month"})[1:-1]  # earlier values for the same keys
    duplicated = "{" + first + ", " + json.dumps(customer)[1:]
    single = client.post("/predict", content=duplicated.encode(), headers=JSON)
    assert single.status_code == 200 and single.json()["churn_probability"] == pytest.approx(expected, abs=1e-12)
    batch = client.post("/predict/batch", content=f'{{"customers": [{duplicated}]}}'.encode(), headers=JSON)
    assert batch.json()["predictions"][0]["churn_probability"] == pytest.approx(expected, abs=1e-12)
    invocation = client.post("/invocations", content=f'{{"inputs": [{duplicated}]}}'.encode(), headers=JSON)
    assert invocation.json()["predictions"][0]["churn_probability"] == pytest.approx(expected, abs=1e-6)
    with websocket_connect(server[0].replace("http", "ws") + "/ws/predict") as ws:
        ws.send(duplicated)
        assert json.loads(ws.recv(timeout=10))["churn_probability"] == pytest.approx(expected, abs=1e-12)


def test_invocations_refuse_other_content_types_with_415(client: httpx.Client, customers: list[dict[str, Any]]) -> None:
    body = json.dumps({"inputs": customers[:2]}).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        answer = client.post("/invocations", content=body, headers={"Content-Type": content_type})
        assert answer.status_code == 415, content_type
        assert answer.json()["error_code"] == "BAD_REQUEST" and "text/csv" in answer.json()["message"]
    assert client.post("/invocations", content=body, headers={"Content-Type": "application/json; charset=utf-8"}).status_code == 200


def test_no_request_in_this_module_was_answered_with_a_server_error(client: httpx.Client) -> None:
    """Runs last: client garbage must never count as a server error (the error-rate alert reads these)."""
    assert server_errors(client) == []
