"""Raw-body fuzzing of every POST endpoint and the WebSocket against a real `churnops serve` process.

Hypothesis builds bodies from bytes and JSON: NaN/Infinity literals, huge numbers, deep nesting, invalid
UTF-8 and lone surrogates, duplicate keys, wrong column types, valid customers with one field mutated,
huge strings, odd content types. For every endpoint: at least FUZZ_BODIES bodies, no 5xx answer, and
the prediction store holds exactly the predictions that 2xx answers returned (nothing for a rejected
request). Derandomized: the same bodies on every run.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect as websocket_connect

from churnops.data.contract import DatasetContract
from churnops.settings import Settings
from tests.support.registries import TrainedRegistry
from tests.support.servers import churnops_api
from tests.support.settings import api_settings
from tests.support.traffic import valid_customers
from tests.support.waiting import wait_until

API_KEY = "fuzz-admin-key-93d1"
FUZZ_BODIES = 2000
FUZZ = settings(
    max_examples=FUZZ_BODIES,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)
RAW = "__RAW__"  # placeholder for a raw JSON literal that Python's json module cannot write (NaN written raw, lone surrogate escapes ...)

# Raw JSON fragments that broke or could break a lenient reader.
HOSTILE_LITERALS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e309",
    "-1e309",
    "1e-400",
    "-0",
    "123456789012345678901234567890",
    "18446744073709551616",
    "1" * 400,
    "true",
    "false",
    "null",
    '"\\ud800"',
    '"\\udfff"',
    '"x\\ud83d"',
    '"\\u0000"',
    '"12"',
    '"1e309"',
    '"nan"',
    '""',
    "[]",
    "{}",
    "[" * 40 + "]" * 40,
    "[" * 2000 + "]" * 2000,
    '{"a":' * 50 + "1" + "}" * 50,
    '"' + "x" * 100_000 + '"',
    '"' + "é" * 20_000 + '"',
]
CONTENT_TYPES = ["application/json"] * 8 + [
    "application/json; charset=utf-8",
    "application/vnd.churn+json",
    "text/plain",
    "text/csv",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "",
    None,
]

any_text = st.text(st.characters(exclude_categories=()), max_size=20)  # lone surrogates included
scalars = st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | any_text
json_values = st.recursive(scalars, lambda children: st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4), max_leaves=12)


def encode(value: Any, ascii_only: bool) -> bytes:
    """Python's json writes NaN/Infinity; surrogates become \\udXXX escapes (ascii) or raw CESU-8 bytes (invalid UTF-8)."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@st.composite
def generic_bodies(draw: st.DrawFn) -> bytes:
    """Bytes, JSON of any shape, deep nesting, literals, and damaged JSON."""
    kind = draw(st.sampled_from(["bytes", "json", "json", "nested", "literal", "damaged"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "nested":
        depth = draw(st.sampled_from([2, 32, 33, 1023, 1025, 50_000]))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        inner = "1" if opener.startswith("{") else ""
        return (opener * depth + inner + closer * depth).encode()
    if kind == "literal":
        return draw(st.sampled_from(HOSTILE_LITERALS)).encode()
    body = encode(draw(json_values), draw(st.booleans()))
    if kind == "damaged" and body:
        cut = draw(st.integers(0, len(body)))
        body = body[:cut] + draw(st.binary(max_size=4)) + body[cut + 1 :]
    return body


@dataclass
class Fuzzing:
    """The customers the fuzzing starts from and the field names of the contract."""

    customers: list[dict[str, Any]]
    columns: list[str]

    def customer(self) -> st.SearchStrategy[str]:
        """One customer as JSON text: valid, or with one field mutated, dropped, duplicated, or an extra one."""

        @st.composite
        def build(draw: st.DrawFn) -> str:
            customer = dict(draw(st.sampled_from(self.customers)))
            action = draw(st.sampled_from(["valid", "raw", "raw", "value", "drop", "extra", "duplicate", "long id"]))
            name = draw(st.sampled_from(self.columns))
            if action == "valid":
                return json.dumps(customer)
            if action == "raw":
                customer[name] = RAW
                return json.dumps(customer).replace(f'"{RAW}"', draw(st.sampled_from(HOSTILE_LITERALS)))
            if action == "value":
                customer[name] = draw(json_values)
            elif action == "drop":
                customer.pop(name, None)
            elif action == "extra":
                customer[draw(any_text)] = draw(json_values)
            elif action == "long id":
                customer["customerID"] = draw(st.sampled_from(["x" * 201, "C-\n", "C-\x00", "ok-" + "é" * 190, "\ud800"]))
            text = json.dumps(customer, ensure_ascii=draw(st.booleans()))
            if action == "duplicate":  # the same key twice: the last one wins
                text = "{" + json.dumps({name: draw(json_values)})[1:-1] + ", " + text[1:]
            return text

        return build()

    def customers_json(self, max_size: int = 3) -> st.SearchStrategy[str]:
        return st.lists(self.customer(), min_size=0, max_size=max_size).map(lambda rows: "[" + ", ".join(rows) + "]")

    def shaped(self, shape: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
        """Endpoint-shaped bodies (most of them), else generic hostile ones."""
        return st.one_of(
            shape.map(lambda text: text.encode("utf-8", "surrogatepass")),
            shape.map(lambda text: text.encode("utf-8", "surrogatepass")),
            generic_bodies(),
        )


@dataclass
class Tally:
    """What the fuzzing sent and what the answers said, for one endpoint."""

    bodies: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    predictions: int = 0  # returned in 2xx answers
    accepted: int = 0  # 2xx answers


def stored(settings_: Settings, table: str = "predictions") -> dict[str, int]:
    engine = sa.create_engine(settings_.store.url)
    try:
        with engine.connect() as connection:
            if table == "predictions":
                rows = connection.execute(sa.text("SELECT endpoint, COUNT(*) FROM predictions GROUP BY endpoint")).all()
                return {str(endpoint): int(count) for endpoint, count in rows}
            return {table: int(connection.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())}  # noqa: S608 - fixed names
    finally:
        engine.dispose()


@dataclass
class Server:
    url: str
    settings: Settings
    client: httpx.Client
    expected: Counter[str] = field(default_factory=Counter)  # predictions returned in 2xx answers, by the store's endpoint label

    def check_store(self, customer: dict[str, Any]) -> None:
        """After a sentinel /predict is stored (the store writes in order, so every earlier record is too),
        the store holds exactly the predictions that 2xx answers returned: nothing for a rejected request."""
        marker = f"sentinel-{uuid.uuid4().hex}"
        assert self.client.post("/predict", json={**customer, "customerID": marker}).status_code == 200
        self.expected["predict"] += 1
        engine = sa.create_engine(self.settings.store.url)
        query = sa.text("SELECT COUNT(*) FROM predictions WHERE features LIKE :marker")
        try:
            with engine.connect() as connection:
                wait_until(lambda: connection.execute(query, {"marker": f"%{marker}%"}).scalar_one() > 0, 30, "the sentinel was not stored")
        finally:
            engine.dispose()
        assert stored(self.settings) == {endpoint: count for endpoint, count in self.expected.items() if count}

    def server_errors(self) -> list[str]:
        return re.findall(r'^churnops_requests_total\{[^}]*status="5\d\d"[^}]*\} .*$', self.client.get("/metrics").text, re.MULTILINE)


@pytest.fixture(scope="module")
def server(trained_registry: TrainedRegistry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Default limits; a retraining job that a valid /admin/retrain body starts is kept small."""
    folder = tmp_path_factory.mktemp("fuzz")
    settings_ = api_settings(
        trained_registry,
        folder,
        api_key=API_KEY,
        max_batch_size=50,
        families=["logistic_regression"],
        search_trials=1,
        cv_folds=2,
        log_level="WARNING",
    )
    with churnops_api(settings_, folder / "api.log") as url, httpx.Client(base_url=url, timeout=60) as client:
        yield Server(url, settings_, client)


@pytest.fixture(scope="module")
def fuzzing(synthetic_csv: Path, contract: DatasetContract) -> Fuzzing:
    customers = valid_customers(synthetic_csv, contract, 20)
    return Fuzzing([{**customer, "customerID": f"C-{index}"} for index, customer in enumerate(customers)], list(contract.columns) + ["customerID"])


STORE_ENDPOINT = {"/predict": "predict", "/predict/batch": "batch", "/invocations": "invocations"}


def predictions_in(path: str, answer: httpx.Response) -> int:
    body = answer.json()
    if path == "/predict":
        return 1
    if path == "/predict/batch":
        return int(body["count"])
    if path == "/invocations":
        return len(body["predictions"])
    return 0


def fuzz_endpoint(
    server: Server, path: str, bodies: st.SearchStrategy[bytes], content_types: st.SearchStrategy[str | None], admin: bool = False
) -> Tally:
    tally = Tally()

    @FUZZ
    @given(body=bodies, content_type=content_types)
    def send(body: bytes, content_type: str | None) -> None:
        headers = {"X-API-Key": API_KEY} if admin else {}
        if content_type is not None:
            headers["Content-Type"] = content_type
        answer = server.client.post(path, content=body, headers=headers)
        tally.bodies += 1
        tally.statuses[answer.status_code] += 1
        assert answer.status_code < 500, f"{path} answered {answer.status_code} to {body[:300]!r} ({content_type}): {answer.text[:500]}"
        if answer.is_success:
            tally.accepted += 1
            predicted = predictions_in(path, answer)
            tally.predictions += predicted
            if path in STORE_ENDPOINT:
                server.expected[STORE_ENDPOINT[path]] += predicted

    send()
    print(f"{path}: {tally.bodies} bodies, statuses {dict(sorted(tally.statuses.items()))}")  # shown with `pytest -s`
    assert tally.bodies >= FUZZ_BODIES
    assert server.server_errors() == []
    return tally


def test_fuzz_predict(server: Server, fuzzing: Fuzzing) -> None:
    tally = fuzz_endpoint(server, "/predict", fuzzing.shaped(fuzzing.customer()), st.sampled_from(CONTENT_TYPES))
    server.check_store(fuzzing.customers[0])
    assert 0 < tally.accepted < tally.bodies, "both valid and rejected bodies were sent"


def test_fuzz_predict_batch(server: Server, fuzzing: Fuzzing) -> None:
    batches = st.one_of(
        fuzzing.customers_json().map(lambda rows: f'{{"customers": {rows}}}'),
        fuzzing.customers_json().map(lambda rows: f'{{"customers": {rows}, "extra": 1}}'),
        st.builds(lambda row, count: f'{{"customers": [{", ".join([row] * count)}]}}', fuzzing.customer(), st.sampled_from([1, 50, 51])),
    )
    tally = fuzz_endpoint(server, "/predict/batch", fuzzing.shaped(batches), st.sampled_from(CONTENT_TYPES))
    server.check_store(fuzzing.customers[0])
    assert 0 < tally.accepted < tally.bodies


def test_fuzz_invocations_json(server: Server, fuzzing: Fuzzing) -> None:
    columns = st.lists(st.sampled_from(fuzzing.columns) | any_text, max_size=4)

    @st.composite
    def split(draw: st.DrawFn) -> str:
        customer = draw(st.sampled_from(fuzzing.customers))
        names = list(customer) if draw(st.booleans()) else draw(columns)
        column_json = json.dumps(names) if draw(st.integers(0, 5)) else json.dumps([draw(json_values) for _ in names])
        rows = [[customer.get(name, draw(json_values)) for name in names] for _ in range(draw(st.integers(0, 3)))]
        row_json = json.dumps(rows)
        if rows and rows[0] and draw(st.booleans()):
            row_json = row_json.replace(json.dumps(rows[0][0]), draw(st.sampled_from(HOSTILE_LITERALS)), 1)
        return f'{{"dataframe_split": {{"columns": {column_json}, "data": {row_json}}}}}'

    payloads = st.one_of(
        fuzzing.customers_json().map(lambda rows: f'{{"dataframe_records": {rows}}}'),
        fuzzing.customers_json().map(lambda rows: f'{{"inputs": {rows}}}'),
        fuzzing.customers_json().map(lambda rows: f'{{"instances": {rows}, "params": {{}}}}'),
        split(),
        st.builds(
            lambda column, values: json.dumps({"inputs": {column: values}}), st.sampled_from(fuzzing.columns), st.lists(json_values, max_size=3)
        ),
    )
    tally = fuzz_endpoint(server, "/invocations", fuzzing.shaped(payloads), st.sampled_from(CONTENT_TYPES))
    server.check_store(fuzzing.customers[0])
    assert 0 < tally.accepted < tally.bodies


def test_fuzz_invocations_csv(server: Server, fuzzing: Fuzzing) -> None:
    cell = st.one_of(st.sampled_from(["", "NaN", "1e309", "-1", "true", '"quoted, comma"', "a\nb", "\x00", '"unclosed']), any_text)

    @st.composite
    def csv_text(draw: st.DrawFn) -> bytes:
        rows = draw(st.lists(st.sampled_from(fuzzing.customers), min_size=0, max_size=3))
        header = list(fuzzing.customers[0])
        if draw(st.integers(0, 3)) == 0:
            header[draw(st.integers(0, len(header) - 1))] = draw(any_text)
        lines = [",".join(header)]
        for row in rows:
            values = [str(row.get(name, "")) for name in header]
            if draw(st.booleans()):
                values[draw(st.integers(0, len(values) - 1))] = draw(cell)
            lines.append(",".join(values))
        text = "\n".join(lines)
        return text.encode("utf-8", "surrogatepass") if draw(st.integers(0, 9)) else text.encode("utf-16")

    bodies = st.one_of(csv_text(), csv_text(), csv_text(), st.binary(max_size=300), generic_bodies())
    tally = fuzz_endpoint(server, "/invocations", bodies, st.sampled_from(["text/csv", "text/csv; charset=utf-8", "TEXT/CSV"]))
    server.check_store(fuzzing.customers[0])
    assert 0 < tally.accepted < tally.bodies


def test_fuzz_feedback(server: Server, fuzzing: Fuzzing) -> None:
    known = [server.client.post("/predict", json=customer).json()["prediction_id"] for customer in fuzzing.customers[:5]]
    server.expected["predict"] += len(known)
    before = stored(server.settings, "feedback")["feedback"]
    ids = st.one_of(st.sampled_from(known), st.sampled_from(["0" * 32, known[0].upper(), known[0] + "0"]), any_text)
    values = st.one_of(st.sampled_from(['"' + value + '"' for value in known]), st.sampled_from(HOSTILE_LITERALS), json_values.map(json.dumps))

    @st.composite
    def feedback(draw: st.DrawFn) -> str:
        body = {"prediction_id": draw(ids), "churned": draw(st.booleans())}
        action = draw(st.sampled_from(["valid", "raw id", "raw churned", "value", "drop", "extra"]))
        if action in ("raw id", "raw churned"):
            body["prediction_id" if action == "raw id" else "churned"] = RAW
            return json.dumps(body).replace(f'"{RAW}"', draw(values))
        if action == "value":
            body[draw(st.sampled_from(["prediction_id", "churned"]))] = draw(json_values)
        elif action == "drop":
            body.pop(draw(st.sampled_from(["prediction_id", "churned"])))
        elif action == "extra":
            body[draw(any_text)] = draw(json_values)
        return json.dumps(body, ensure_ascii=draw(st.booleans()))

    tally = fuzz_endpoint(server, "/feedback", fuzzing.shaped(feedback()), st.sampled_from(CONTENT_TYPES))
    server.check_store(fuzzing.customers[0])
    assert stored(server.settings, "feedback")["feedback"] - before == tally.accepted, "one feedback row per 200 answer, none for the rest"
    assert 0 < tally.accepted < tally.bodies


def test_fuzz_admin_reload(server: Server, fuzzing: Fuzzing) -> None:
    """/admin/reload takes no body: whatever is sent, the answer is 200 (or 4xx), never 5xx."""
    tally = fuzz_endpoint(server, "/admin/reload", fuzzing.shaped(fuzzing.customer()), st.sampled_from(CONTENT_TYPES), admin=True)
    assert tally.accepted > 0


def test_fuzz_admin_retrain(server: Server, fuzzing: Fuzzing) -> None:
    """Valid bodies start a small real training job (202) or meet the running one (409); everything else is 4xx."""
    options = st.one_of(st.sampled_from(HOSTILE_LITERALS), json_values.map(json.dumps), st.sampled_from(['"/nonexistent.csv"', "0", "501", "1.5"]))

    @st.composite
    def retrain(draw: st.DrawFn) -> str:
        keys = draw(st.lists(st.sampled_from(["data", "trials", "extra"]), min_size=1, max_size=3, unique=True))
        return "{" + ", ".join(f'"{key}": {draw(options)}' for key in keys) + "}"

    tally = fuzz_endpoint(server, "/admin/retrain", fuzzing.shaped(retrain()), st.sampled_from(CONTENT_TYPES), admin=True)
    assert set(tally.statuses) - {202, 409} <= {400, 413, 422}, tally.statuses


def test_fuzz_websocket(server: Server, fuzzing: Fuzzing) -> None:
    """One connection for every message: each gets one answer (a prediction or an error object); it never closes."""
    tally = Tally()
    messages = fuzzing.shaped(fuzzing.customer())
    with websocket_connect(server.url.replace("http", "ws") + "/ws/predict", max_size=None) as ws:

        @FUZZ
        @given(message=messages, as_text=st.booleans())
        def send(message: bytes, as_text: bool) -> None:
            try:
                frame: str | bytes = message.decode("utf-8") if as_text else message
            except UnicodeDecodeError:
                frame = message  # invalid UTF-8 can only travel in a binary frame
            ws.send(frame)
            answer = json.loads(ws.recv(timeout=30))
            tally.bodies += 1
            if "prediction_id" in answer:
                tally.predictions += 1
            else:
                assert set(answer) == {"error", "detail"} or set(answer) == {"error", "detail", "more"}, answer

        send()
    server.expected["websocket"] += tally.predictions
    print(f"websocket: {tally.bodies} messages, {tally.predictions} predictions")
    assert tally.bodies >= FUZZ_BODIES
    assert 0 < tally.predictions < tally.bodies
    server.check_store(fuzzing.customers[0])


def test_no_fuzzed_request_counted_as_a_server_error(server: Server) -> None:
    """Runs last: `churnops_requests_total{status=~"5.."}` stays empty, so client garbage cannot fire the error-rate alert."""
    assert server.server_errors() == []
    metrics = server.client.get("/metrics").text
    assert re.search(r'churnops_requests_total\{endpoint="/predict",method="POST",status="422"\} [1-9]', metrics)
