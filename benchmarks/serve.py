"""Serving benchmark: churnops' API beside `mlflow models serve` on the same model version, in one run.

Trains one version on the Telco CSV (or synthetic data when the file is absent) into a temporary
registry, serves it behind `mlflow models serve` and behind `churnops serve` (one worker each), and
drives both with wrk (C, from Debian: `apt-get install wrk`):

* single customer: churnops `POST /predict` vs mlflow `POST /invocations` (dataframe_records, 1 row),
  at 1 and 8 connections: req/s, p50, p99 and the ratios;
* 1000-customer batches: `POST /predict/batch` vs `POST /invocations`: rows/s and the ratio;
* acknowledgements at 8 connections: churnops with durable acknowledgements (the default: each
  prediction fsync'd to the write-ahead log before the answer) and with CHURNOPS_STORE_DURABILITY=batched,
  beside the Python HTTP ceiling: a bare FastAPI endpoint that parses the same body into the same
  customer model and returns a constant (benchmarks/ceiling.py, same uvicorn options and worker count).

Targets on this machine: >= 30x mlflow's single-customer throughput at 8 connections; p50 <= 2 ms at 1;
durable acknowledgements >= 0.6 of the ceiling; 1000-customer batches >= 3x mlflow. The machine is shared: compare the ratios within one run.

    uv run python benchmarks/serve.py [--data PATH] [--seconds 10] [--trials 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from churnops.data.loading import to_model_frame
from churnops.settings import Settings
from churnops.training.pipeline import prepare, run_pipeline

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "telco_customer_churn.csv"
sys.path.insert(0, str(ROOT))

from tests.support.servers import free_port  # noqa: E402  (a free local port; shared with the tests)

TARGET_RATIO = 30.0  # churnops req/s over mlflow's, single customer at 8 connections
TARGET_P50_MS = 2.0  # churnops median latency, single customer at 1 connection
TARGET_CEILING_SHARE = 0.6  # durable churnops req/s over the bare FastAPI endpoint's, at 8 connections
TARGET_BATCH_RATIO = 3.0  # churnops /predict/batch rows/s over mlflow's /invocations, 1000-customer batches
AGREEMENT_TOLERANCE = 1e-5  # |P(churn) churnops - P(churn) mlflow| for the same customer

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("BODY_FILE"), "r")
wrk.body = f:read("*a")
f:close()
"""


@dataclass(frozen=True)
class Load:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    answered: int = 0  # 2xx answers, warm-up included (what the store must hold afterwards)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="training CSV (synthetic data when missing)")
    parser.add_argument("--seconds", type=int, default=10, help="measured seconds per scenario (after a 2 s warm-up)")
    parser.add_argument("--trials", type=int, default=4, help="search trials for the benchmarked model")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the acknowledgement scenarios (median reported)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: `apt-get install wrk` (Debian), then run again.")

    with tempfile.TemporaryDirectory(prefix="churnops-serve-bench-") as folder_name:
        folder = Path(folder_name)
        data = args.data if Path(args.data).is_file() else None
        tracking_uri, version, customers = train_model(folder, data, args.trials)
        env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
        mlflow_port, churnops_port, batched_port, ceiling_port = free_port(), free_port(), free_port(), free_port()
        churnops_env = {
            **env,
            "CHURNOPS_TRACKING_URI": tracking_uri,
            "CHURNOPS_DATASET": "telco",
            "CHURNOPS_LOG_LEVEL": "WARNING",
        }
        servers = [
            start(
                [
                    sys.executable,
                    "-m",
                    "mlflow",
                    "models",
                    "serve",
                    "-m",
                    f"models:/churn-classifier/{version}",
                    "--env-manager",
                    "local",
                    "--workers",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(mlflow_port),
                ],
                env,
                folder / "mlflow-serve.log",
                f"http://127.0.0.1:{mlflow_port}/ping",
            ),
            start(
                [sys.executable, "-m", "churnops", "serve", "--workers", "1", "--port", str(churnops_port)],
                {
                    **churnops_env,
                    "CHURNOPS_STORE_URL": f"sqlite:///{folder / 'predictions.db'}",
                    "CHURNOPS_SPOOL_DIR": str(folder / "spool"),
                    "CHURNOPS_STORE_DURABILITY": "durable",
                },
                folder / "churnops-serve.log",
                f"http://127.0.0.1:{churnops_port}/ready",
            ),
            start(
                [sys.executable, "-m", "churnops", "serve", "--workers", "1", "--port", str(batched_port)],
                {
                    **churnops_env,
                    "CHURNOPS_STORE_URL": f"sqlite:///{folder / 'predictions-batched.db'}",
                    "CHURNOPS_SPOOL_DIR": str(folder / "spool-batched"),
                    "CHURNOPS_STORE_DURABILITY": "batched",
                },
                folder / "churnops-batched.log",
                f"http://127.0.0.1:{batched_port}/ready",
            ),
            start(
                [sys.executable, str(ROOT / "benchmarks" / "ceiling.py"), "--workers", "1", "--port", str(ceiling_port)],
                env,
                folder / "ceiling.log",
                f"http://127.0.0.1:{ceiling_port}/health",
            ),
        ]
        try:
            mlflow_url, churnops_url = f"http://127.0.0.1:{mlflow_port}", f"http://127.0.0.1:{churnops_port}"
            batched_url, ceiling_url = f"http://127.0.0.1:{batched_port}", f"http://127.0.0.1:{ceiling_port}"
            one, batch = customers[0], (customers * (1000 // len(customers) + 1))[:1000]
            bodies = {
                "churnops_one": write(folder, "one.json", one),
                "mlflow_one": write(folder, "mlflow-one.json", {"dataframe_records": [one]}),
                "churnops_batch": write(folder, "batch.json", {"customers": batch}),
                "mlflow_batch": write(folder, "mlflow-batch.json", {"dataframe_records": batch}),
            }
            check_same_answer(churnops_url, mlflow_url, one)
            print(f"model version {version} served by both (1 worker each); {args.seconds} s per scenario\n")
            results: dict[str, Load] = {}
            for connections in (1, 8):
                results[f"mlflow_one_{connections}"] = wrk(mlflow_url + "/invocations", bodies["mlflow_one"], connections, args.seconds, folder)
                results[f"churnops_one_{connections}"] = wrk(churnops_url + "/predict", bodies["churnops_one"], connections, args.seconds, folder)
            # The three acknowledgement scenarios interleaved, round after round, so that they see the same
            # machine load (it is shared); each one's median round is reported.
            rounds: dict[str, list[Load]] = {"ceiling_one_8": [], "batched_one_8": [], "durable_one_8": []}
            for _ in range(args.rounds):
                for key, url in (("ceiling_one_8", ceiling_url), ("batched_one_8", batched_url), ("durable_one_8", churnops_url)):
                    rounds[key].append(wrk(url + "/predict", bodies["churnops_one"], 8, args.seconds, folder))
            results.update({key: median(loads) for key, loads in rounds.items()})
            results["mlflow_batch"] = wrk(mlflow_url + "/invocations", bodies["mlflow_batch"], 2, args.seconds, folder)
            results["churnops_batch"] = wrk(churnops_url + "/predict/batch", bodies["churnops_batch"], 2, args.seconds, folder)
            durable_server = servers[1]
            durable_server.terminate()  # a graceful stop: the store writes what is queued
            durable_server.wait(timeout=60)
            report(results)
            check_stored(folder / "predictions.db", results, [*rounds["durable_one_8"]])
        finally:
            for process in servers:
                process.terminate()
                process.wait(timeout=60)


def check_stored(database: Path, results: dict[str, Load], durable_rounds: list[Load]) -> None:
    """Every prediction the durable server answered is in its store (1 for the agreement check, 1000 per batch)."""
    single = sum(results[f"churnops_one_{connections}"].answered for connections in (1, 8)) + sum(load.answered for load in durable_rounds)
    answered = 1 + single + 1000 * results["churnops_batch"].answered
    with sqlite3.connect(database) as connection:
        stored = connection.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
    verdict = "every answered prediction is stored" if stored >= answered else f"{answered - stored} answered predictions are MISSING"
    print(f"durable server's store: {stored} predictions for {answered} answered ({verdict})")


def train_model(folder: Path, data: str | None, trials: int) -> tuple[str, str, list[dict[str, Any]]]:
    tracking_uri = f"sqlite:///{folder / 'mlflow.db'}"
    settings = Settings(
        tracking_uri=tracking_uri,
        artifact_location=str(folder / "mlartifacts"),
        dataset="telco",
        data=data,
        search_trials=trials,
        gate_min_roc_auc=0.0,
    )
    print(f"training on {data or 'synthetic data'} ({trials} trials) ...", flush=True)
    result = run_pipeline(settings)
    print(f"version {result.version}: {result.family}, test ROC AUC {result.test_metrics['roc_auc']:.4f}", flush=True)
    prepared = prepare(settings)
    frame = to_model_frame(prepared.split.test.features, prepared.contract).dropna().head(50)
    customers = json.loads(frame.to_json(orient="records"))
    return tracking_uri, result.version, customers


def start(command: list[str], env: dict[str, str], log: Path, ready_url: str, timeout: float = 180) -> subprocess.Popen[bytes]:
    output = log.open("wb")
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=log.parent)  # noqa: S603
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{command[2:5]} exited:\n{log.read_text()[-3000:]}")
        try:
            httpx.get(ready_url, timeout=2, follow_redirects=True).raise_for_status()
        except httpx.HTTPError:
            time.sleep(0.5)
        else:
            return process
    process.kill()
    sys.exit(f"{ready_url} did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


def write(folder: Path, name: str, payload: Any) -> Path:
    path = folder / name
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def post(url: str, payload: Any) -> Any:
    response = httpx.post(url, content=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, timeout=30)
    response.raise_for_status()
    return response.json()


def check_same_answer(churnops_url: str, mlflow_url: str, customer: dict[str, Any]) -> None:
    """Both servers must answer the same probability, or the comparison means nothing."""
    ours = post(churnops_url + "/predict", customer)["churn_probability"]
    theirs = post(mlflow_url + "/invocations", {"dataframe_records": [customer]})["predictions"][0]["churn_probability"]
    if abs(ours - theirs) > AGREEMENT_TOLERANCE:
        sys.exit(f"the two servers disagree: churnops {ours} vs mlflow {theirs}")
    print(f"same answer from both: P(churn) = {ours:.6f} vs {theirs:.6f}")


def wrk(url: str, body: Path, connections: int, seconds: int, folder: Path) -> Load:
    script = folder / "post.lua"
    script.write_text(LUA, encoding="utf-8")
    threads = min(connections, 2)
    env = {**os.environ, "BODY_FILE": str(body)}
    base = ["wrk", f"-t{threads}", f"-c{connections}", "-s", str(script), "--latency", "--timeout", "30s"]
    warm_up = subprocess.run([*base, "-d2s", url], env=env, capture_output=True, text=True, check=True).stdout  # noqa: S603
    output = subprocess.run([*base, f"-d{seconds}s", url], env=env, capture_output=True, text=True, check=True).stdout  # noqa: S603
    load = parse_wrk(output)
    return dataclasses.replace(load, answered=load.answered + parse_wrk(warm_up).answered)


def median(loads: list[Load]) -> Load:
    """The round with the median req/s."""
    return sorted(loads, key=lambda load: load.requests_per_second)[len(loads) // 2]


def parse_wrk(output: str) -> Load:
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    errors = sum(int(value) for value in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors += int(non_2xx.group(1)) if non_2xx else 0
    completed = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    return Load(rate, _percentile(output, "50%"), _percentile(output, "99%"), errors, completed - (int(non_2xx.group(1)) if non_2xx else 0))


def _percentile(output: str, label: str) -> float:
    value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def report(results: dict[str, Load]) -> None:
    print(f"{'scenario':<34}{'mlflow':>22}{'churnops':>22}{'ratio':>9}")
    for connections in (1, 8):
        theirs, ours = results[f"mlflow_one_{connections}"], results[f"churnops_one_{connections}"]
        print(
            f"{f'1 customer, {connections} conn: req/s':<34}{theirs.requests_per_second:>22.1f}{ours.requests_per_second:>22.1f}"
            f"{ours.requests_per_second / theirs.requests_per_second:>8.1f}x"
        )
        print(
            f"{'   p50 / p99 ms':<34}{f'{theirs.p50_ms:.2f} / {theirs.p99_ms:.2f}':>22}{f'{ours.p50_ms:.2f} / {ours.p99_ms:.2f}':>22}"
            f"{theirs.p50_ms / ours.p50_ms:>8.1f}x"
        )
    theirs, ours = results["mlflow_batch"], results["churnops_batch"]
    print(
        f"{'1000-customer batches: rows/s':<34}{theirs.requests_per_second * 1000:>22.0f}{ours.requests_per_second * 1000:>22.0f}"
        f"{ours.requests_per_second / theirs.requests_per_second:>8.1f}x"
    )
    ceiling = results["ceiling_one_8"].requests_per_second
    mlflow_rate = results["mlflow_one_8"].requests_per_second
    print(f"\n{'1 customer, 8 conn: acknowledgements':<40}{'req/s':>10}{'p50 / p99 ms':>18}{'/ ceiling':>11}{'/ mlflow':>10}")
    for key, label in (
        ("ceiling_one_8", "bare FastAPI (parse, constant)"),
        ("batched_one_8", "churnops, batched"),
        ("durable_one_8", "churnops, durable (default)"),
    ):
        load = results[key]
        print(
            f"{label:<40}{load.requests_per_second:>10.1f}{f'{load.p50_ms:.2f} / {load.p99_ms:.2f}':>18}"
            f"{load.requests_per_second / ceiling:>10.2f}x{load.requests_per_second / mlflow_rate:>9.1f}x"
        )
    durable_share = results["durable_one_8"].requests_per_second / ceiling
    errors = sum(load.errors for load in results.values())
    ratio = results["churnops_one_8"].requests_per_second / results["mlflow_one_8"].requests_per_second
    p50 = results["churnops_one_1"].p50_ms
    batch_ratio = results["churnops_batch"].requests_per_second / results["mlflow_batch"].requests_per_second
    print(f"\nerrors (socket or non-2xx): {errors}")
    print(f"target >= {TARGET_RATIO:g}x mlflow at 8 connections: {ratio:.1f}x -> {'met' if ratio >= TARGET_RATIO else 'NOT met'}")
    print(f"target p50 <= {TARGET_P50_MS:g} ms at 1 connection: {p50:.2f} ms -> {'met' if p50 <= TARGET_P50_MS else 'NOT met'}")
    print(f"target batches >= {TARGET_BATCH_RATIO:g}x mlflow: {batch_ratio:.1f}x -> {'met' if batch_ratio >= TARGET_BATCH_RATIO else 'NOT met'}")
    print(
        f"target durable >= {TARGET_CEILING_SHARE:g} of the ceiling at 8 connections: {durable_share:.2f} -> "
        f"{'met' if durable_share >= TARGET_CEILING_SHARE else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
