"""Comment analysis end to end with the real model: `churnops llm serve` (SmolLM2-135M), a real `mlflow server`,
the prompt registry, traces, the store, the CLI, the prompt gate and POST /comments/analyze. No mock of the LLM."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from churnops.comments.analyzer import Analyzer, LlmUnavailable
from churnops.comments.prompts import BUILT_IN_PROMPT, load_prompt
from churnops.errors import ConfigError
from churnops.settings import Settings
from churnops.store.comments import open_store, read_analyses
from churnops.tracking import connect, ensure_experiment
from tests.support.cli import churnops_command
from tests.support.servers import TEST_THREADS, churnops_api, free_port, llm_server, mlflow_server
from tests.support.ui import UI_APP

COMMENTS = [
    ("c-1", "7590-VHVEG", "2026-11-02", "Third outage this week. I'm switching to another provider next month."),
    ("c-2", "5575-GNVDE", "2026-11-03", "The technician was friendly and fixed my internet quickly, thank you!"),
    ("c-3", "3668-QPYBK", "", "Why did my bill go up by $15 without any notice?"),
    ("c-4", "7795-CFOCW", "2026-11-05", "Le débit est correct mais le service client ne répond jamais."),
]


@dataclass(frozen=True)
class Stack:
    tracking_uri: str
    ollama_host: str
    folder: Path

    def settings(self, prompt: str, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "tracking_uri": self.tracking_uri,
            "ollama_host": self.ollama_host,
            "comments_prompt": prompt,
            "store_url": f"sqlite:///{self.folder / f'{prompt}-store.db'}",
            "comments_output_dir": self.folder / "comments",
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("comments-stack")
    with (
        mlflow_server(f"sqlite:///{folder / 'mlflow.db'}", folder / "artifacts") as tracking_uri,
        llm_server(folder / "llm.log", *TEST_THREADS) as ollama_host,
    ):
        yield Stack(tracking_uri, ollama_host, folder)


def write_comments(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "customer_id", "date", "text"])
        writer.writerows(rows)
    return path


def test_an_analysis_is_a_trace_of_prompt_loading_the_model_call_and_parsing(stack: Stack) -> None:
    settings = stack.settings("traced")
    connect(settings)
    ensure_experiment(settings, settings.comments.experiment)
    outcome = Analyzer(settings).analyze(COMMENTS[0][3], comment_id="c-1", customer_id="7590-VHVEG")

    assert outcome.ok, outcome.error
    assert outcome.analysis is not None and outcome.analysis.sentiment in ("negative", "mixed", "neutral", "positive")
    assert (outcome.prompt_name, outcome.prompt_version) == ("traced", 1)  # the built-in prompt, registered on first use
    assert load_prompt(settings.comments).version == 1  # ... and @production
    assert outcome.prompt_tokens and outcome.completion_tokens

    mlflow.flush_trace_async_logging()
    trace = mlflow.get_trace(outcome.trace_id)
    assert trace is not None
    spans = {span.name: span for span in trace.data.spans}
    assert set(spans) == {"analyze_comment", "load_prompt", "model_call", "parse"}
    assert spans["analyze_comment"].attributes["prompt_version"] == 1
    assert spans["load_prompt"].outputs == {"uri": "prompts:/traced/1", "version": 1}
    call = spans["model_call"]
    assert call.inputs["model"] == "smollm2:135m" and call.inputs["messages"][-1]["content"].endswith(COMMENTS[0][3])
    usage = call.attributes["mlflow.chat.tokenUsage"]
    assert usage["input_tokens"] == outcome.prompt_tokens and usage["output_tokens"] == outcome.completion_tokens
    assert call.attributes["latency_ms"] > 0
    assert json.loads(call.outputs["content"])["sentiment"] == outcome.analysis.sentiment


def test_a_file_is_analysed_stored_and_written_and_a_rerun_skips_what_is_done(stack: Stack, tmp_path: Path) -> None:
    settings = stack.settings("batch")
    comments = write_comments(tmp_path / "comments.csv", COMMENTS)
    output = tmp_path / "analysed.parquet"

    first = churnops_command(settings, "comments", "analyze", "--input", str(comments), "--output", str(output), "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert (result["comments"], result["analysed"], result["skipped"], result["prompt_version"]) == (4, 4, 0, 1)
    stored = read_analyses(open_store(settings.store.url))
    assert sorted(row["comment_id"] for row in stored) == ["c-1", "c-2", "c-3", "c-4"]
    assert all(row["run_id"] == result["run_id"] and row["source"] == "file:comments.csv" for row in stored)
    assert {row["comment_date"] for row in stored} == {"2026-11-02", "2026-11-03", None, "2026-11-05"}
    frame = pd.read_parquet(output)
    assert frame["comment_id"].tolist() == ["c-1", "c-2", "c-3", "c-4"]
    assert frame.loc[frame["ok"], "sentiment"].notna().all()
    connect(settings)
    run = mlflow.get_run(result["run_id"])
    assert run.data.metrics["analysed"] == 4 and run.data.params["prompt_uri"] == "prompts:/batch/1"

    again = churnops_command(settings, "comments", "analyze", "--input", str(comments), "--output", str(output), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    succeeded = int(frame["ok"].sum())
    assert f"analysed {4 - succeeded} of 4 comments" in again.stdout and f"{succeeded} already analysed" in again.stdout
    assert len(pd.read_parquet(output)) == 4


def test_an_answer_cut_off_is_retried_once_then_recorded_as_a_failure_and_listed_by_traces(stack: Stack, tmp_path: Path) -> None:
    settings = stack.settings("cutoff", llm_max_tokens=16)  # no analysis fits in 16 tokens: the JSON is cut off
    comments = write_comments(tmp_path / "comments.csv", COMMENTS[:2])
    analysed = churnops_command(settings, "comments", "analyze", "--input", str(comments), "--json", cwd=tmp_path)
    assert analysed.returncode == 0, analysed.stderr  # failures never stop the batch
    assert json.loads(analysed.stdout)["failures"] == 2
    stored = read_analyses(open_store(settings.store.url))
    assert [(row["ok"], row["attempts"]) for row in stored] == [(False, 2), (False, 2)]
    assert all("not a valid analysis" in row["error"] and row["sentiment"] is None for row in stored)

    listed = churnops_command(settings, "comments", "traces", "--json", "--limit", "50", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    failed = {row["trace_id"]: row for row in json.loads(listed.stdout)}
    for row in stored:
        assert failed[row["trace_id"]]["status"] == "ERROR"
        assert "not a valid analysis" in failed[row["trace_id"]]["error"]
    table = churnops_command(settings, "comments", "traces", cwd=tmp_path)
    assert table.returncode == 0 and table.stdout.count("ERROR") == 2 and "Traceback" not in table.stderr


def test_a_prompt_version_is_promoted_only_through_the_gate(stack: Stack, tmp_path: Path) -> None:
    settings = stack.settings("gated")

    def run(*args: str) -> tuple[int, str]:
        done = churnops_command(settings, "comments", *args, cwd=tmp_path)
        return done.returncode, done.stdout + done.stderr

    code, shown = run("evaluate", "--limit", "4")
    assert code == 0, shown
    assert "prompt v1 (production: v1) on 4 labelled comments" in shown and "baseline" in shown and "nothing to gate" in shown

    copy = tmp_path / "same.yaml"
    copy.write_text(BUILT_IN_PROMPT.read_text())
    assert run("prompt", "register", "--file", str(copy), "--message", "the same words")[0] == 0
    code, shown = run("evaluate", "--version", "2", "--limit", "4", "--promote")
    assert code == 0, shown
    assert "gate: v2 passes" in shown and "promoted to @production" in shown
    connect(settings)
    assert load_prompt(settings.comments).version == 2

    rambling = tmp_path / "rambling.yaml"
    rambling.write_text(
        "system: Write a very long summary, at least three hundred words, retelling the comment several times.\n"
        "user: 'Comment: {{comment}}'\ntemperature: 0\n"
    )
    assert run("prompt", "register", "--file", str(rambling))[0] == 0
    code, shown = run("evaluate", "--version", "3", "--limit", "4", "--promote")
    assert code == 1, shown
    assert "gate: v3 fails (" in shown and "< production" in shown and "not promoted" in shown
    assert load_prompt(settings.comments).version == 2
    _, listing = run("prompt", "list")
    assert listing.splitlines()[:3] == ["v3  from rambling.yaml", "v2 @production  the same words", "v1  the built-in prompt"]

    evaluation = mlflow.search_runs(
        experiment_names=[settings.comments.experiment], filter_string="tags.`churnops.kind` = 'prompt-evaluation'", output_format="list"
    )
    newest = max(evaluation, key=lambda found: found.info.start_time)
    assert newest.data.tags["gate_decision"] == "reject"
    assert {"llm_json_valid", "baseline_json_valid", "production_json_valid"} <= set(newest.data.metrics)


def test_an_unreachable_llm_or_an_unknown_model_is_a_clear_error_and_stores_nothing(stack: Stack, tmp_path: Path) -> None:
    down = stack.settings("down", ollama_host=f"http://127.0.0.1:{free_port()}")
    connect(down)
    with pytest.raises(LlmUnavailable, match="Cannot reach the Ollama API at http://127.0.0.1:.*churnops llm serve"):
        Analyzer(down).analyze("Too expensive.")
    comments = write_comments(tmp_path / "comments.csv", COMMENTS[:1])
    failed = churnops_command(down, "comments", "analyze", "--input", str(comments), cwd=tmp_path)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert "Cannot reach the Ollama API" in failed.stderr
    assert read_analyses(open_store(down.store.url)) == []

    unknown = stack.settings("unknown", llm_model="qwen2.5:72b")
    with pytest.raises(ConfigError, match="has no model 'qwen2.5:72b'.*CHURNOPS_LLM_MODEL"):
        Analyzer(unknown).analyze("Too expensive.")


def test_the_api_analyses_one_comment_stores_it_and_says_when_the_llm_is_down(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = stack.settings("api", spool_dir=tmp_path / "spool")
    with churnops_api(settings, tmp_path / "api.log") as url:
        answer = httpx.post(
            f"{url}/comments/analyze",
            json={"text": COMMENTS[3][3], "comment_id": "c-4", "customer_id": "7795-CFOCW", "date": "2026-11-05"},
            timeout=120,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["stored"] and body["prompt_version"] == 1 and body["model"] == "smollm2:135m" and body["trace_id"]
        assert body["ok"] == (body["sentiment"] is not None)
        assert httpx.post(f"{url}/comments/analyze", json={"text": ""}, timeout=30).status_code == 422
        assert httpx.post(f"{url}/comments/analyze", json={"text": "ok", "mood": "x"}, timeout=30).status_code == 422
        page = comments_page(monkeypatch, settings, url)  # the web front end's page, a client of this API
    stored = read_analyses(open_store(settings.store.url))
    one_at_a_time = stack.settings("api", spool_dir=tmp_path / "spool-burst", comments_api_max_concurrent=1)
    with churnops_api(one_at_a_time, tmp_path / "api-burst.log") as url, ThreadPoolExecutor(3) as pool:
        burst = list(pool.map(lambda _: httpx.post(f"{url}/comments/analyze", json={"text": "Too expensive."}, timeout=120), range(3)))
    statuses = sorted(answer.status_code for answer in burst)
    assert statuses == [200, 429, 429], [answer.text for answer in burst]  # one analysis runs; the others are told to come back
    refused = next(answer for answer in burst if answer.status_code == 429)
    assert refused.headers["retry-after"] == "5" and "CHURNOPS_COMMENTS_API_MAX_CONCURRENT" in refused.json()["detail"]
    assert [(row["id"], row["comment_id"], row["source"], row["comment_date"]) for row in stored[:1]] == [
        (body["analysis_id"], "c-4", "api", "2026-11-05")
    ]
    assert len(stored) == 2 and stored[1]["text"] == COMMENTS[0][3]  # the page's analysis, stored by the API
    shown = " ".join(str(item.value) for item in page.caption)
    assert "prompt v1" in shown and stored[1]["trace_id"] in shown and "; stored;" in shown
    if stored[1]["ok"]:
        assert [metric.value for metric in page.metric][:2] == [stored[1]["sentiment"], stored[1]["churn_risk"]]

    down = stack.settings("api", ollama_host=f"http://127.0.0.1:{free_port()}", spool_dir=tmp_path / "spool")
    with churnops_api(down, tmp_path / "api-down.log") as url:
        answer = httpx.post(f"{url}/comments/analyze", json={"text": "Too expensive."}, timeout=60)
        assert answer.status_code == 503 and "Cannot reach the Ollama API" in answer.json()["detail"]
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200  # predictions are served regardless


def comments_page(monkeypatch: pytest.MonkeyPatch, settings: Settings, api_url: str) -> AppTest:
    """The Customer comments page under Streamlit's AppTest: one comment typed in and analysed through the API."""
    for key, value in {**settings.as_environment(), "CHURNOPS_API_URL": api_url}.items():
        monkeypatch.setenv(key, value)
    st.cache_data.clear()
    st.cache_resource.clear()
    app = AppTest.from_file(str(UI_APP), default_timeout=180)
    app.run()
    app.switch_page("views/comments.py").run()
    app.text_area(key="comment:text").input(COMMENTS[0][3])
    next(button for button in app.button if button.label == "Analyse").click().run()
    assert not app.exception and not app.error, [item.value for item in app.error]
    return app
