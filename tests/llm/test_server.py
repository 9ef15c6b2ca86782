"""The official `ollama` client against a real `churnops llm serve` (SmolLM2-135M-Instruct through llama.cpp).

What an Ollama client relies on: the listing, chat and generate with and without streaming, structured output
(`format` = a JSON schema, or "json"), the options, Ollama's errors; and what a shared server must survive:
concurrent requests (one llama.cpp context: they queue) and clients that go away mid-stream.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Literal

import httpx
import ollama
import pytest
from pydantic import BaseModel

from tests.support.servers import RunningLlm

MODEL = "smollm2:135m"
GREEDY = {"temperature": 0, "seed": 1}
COMMENT = "The support team never answered my calls and the price went up again. I am cancelling my contract."


class CommentAnalysis(BaseModel):
    sentiment: Literal["positive", "negative", "neutral"]
    summary: str


@pytest.fixture(scope="module")
def client(llm: RunningLlm) -> ollama.Client:
    return ollama.Client(host=llm.url, timeout=60)


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def check_stats(answer: Any) -> None:
    """Ollama's closing figures: counts, and durations in nanoseconds that add up."""
    assert answer.done is True
    assert answer.done_reason in ("stop", "length")
    assert answer.prompt_eval_count > 0
    assert answer.eval_count > 0
    assert 0 < answer.prompt_eval_duration < answer.total_duration
    assert 0 < answer.eval_duration < answer.total_duration
    assert answer.load_duration >= 0


def test_root_version_tags_show_and_ps(llm: RunningLlm, client: ollama.Client) -> None:
    with httpx.Client(base_url=llm.url, timeout=10) as http:
        assert http.get("/").text == "Ollama is running"
        assert http.head("/").status_code == 200
        assert http.get("/api/version").json()["version"].count(".") == 2
    (listed,) = client.list().models
    assert listed.model == MODEL
    assert listed.size is not None and listed.size > 50_000_000
    assert listed.digest is not None and len(listed.digest) == 64
    assert listed.details is not None
    assert (listed.details.family, listed.details.parameter_size, listed.details.quantization_level) == ("llama", "135M", "Q4_1")
    assert listed.details.format == "gguf"
    assert client.list().models[0].digest == listed.digest  # computed once
    shown = client.show(MODEL)
    assert shown.details is not None and shown.details.family == "llama"
    assert shown.modelinfo is not None and shown.modelinfo["general.architecture"] == "llama"
    assert shown.template is not None and "<|im_start|>" in shown.template
    (running,) = client.ps().models
    assert running.model == MODEL and running.context_length == 2048


def test_chat(client: ollama.Client) -> None:
    answer = client.chat(model=MODEL, messages=ask("Name one colour of the sky."), options={**GREEDY, "num_predict": 24})
    assert answer.message.role == "assistant"
    assert answer.message.content and answer.message.content.strip()
    assert answer.model == MODEL
    check_stats(answer)


def test_generate_with_a_system_prompt(client: ollama.Client) -> None:
    answer = client.generate(model=MODEL, prompt="What is 2 + 2?", system="You answer with one number.", options={**GREEDY, "num_predict": 16})
    assert answer.response and answer.response.strip()
    check_stats(answer)


def test_raw_generate_continues_the_text_as_given(client: ollama.Client) -> None:
    answer = client.generate(model=MODEL, prompt="Monday, Tuesday, Wednesday,", raw=True, options={**GREEDY, "num_predict": 6})
    assert "Thursday" in answer.response  # no chat template around it: the model continues the list


def test_chat_streaming_matches_the_whole_answer(client: ollama.Client) -> None:
    messages = ask("Tell me about the sea in two sentences.")
    options = {**GREEDY, "num_predict": 32}
    parts = list(client.chat(model=MODEL, messages=messages, options=options, stream=True))
    assert len(parts) > 5
    assert all(part.done is False for part in parts[:-1])
    last = parts[-1]
    check_stats(last)
    streamed = "".join(part.message.content or "" for part in parts)
    assert last.eval_count >= len(parts) - 1
    whole = client.chat(model=MODEL, messages=messages, options=options)
    assert streamed == whole.message.content  # greedy: the same answer, in pieces or whole


def test_generate_streaming(client: ollama.Client) -> None:
    parts = list(client.generate(model=MODEL, prompt="Write a sentence about trains.", options={"num_predict": 24}, stream=True))
    assert len(parts) > 5
    assert "".join(part.response or "" for part in parts).strip()
    check_stats(parts[-1])


def test_ollama_streams_when_stream_is_absent(llm: RunningLlm) -> None:
    body = {"model": MODEL, "prompt": "Hello", "options": {"num_predict": 8}}
    with httpx.Client(base_url=llm.url, timeout=60) as http:
        response = http.post("/api/generate", json=body)
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) > 1 and lines[-1]["done"] is True and "eval_count" in lines[-1]


def test_structured_output_follows_the_schema(client: ollama.Client) -> None:
    prompt = f"Classify the sentiment of this customer comment and summarise it in a few words, as JSON.\nComment: {COMMENT}"
    answer = client.chat(model=MODEL, messages=ask(prompt), format=CommentAnalysis.model_json_schema(), options={**GREEDY, "num_predict": 96})
    assert answer.done_reason == "stop"  # the grammar ended the answer, not the token limit
    analysis = CommentAnalysis.model_validate_json(answer.message.content or "")
    assert analysis.summary.strip()


def test_structured_output_streams_too(client: ollama.Client) -> None:
    schema = CommentAnalysis.model_json_schema()
    prompt = f"Analyse this comment as JSON: {COMMENT}"
    parts = list(client.generate(model=MODEL, prompt=prompt, format=schema, options={**GREEDY, "num_predict": 96}, stream=True))
    CommentAnalysis.model_validate_json("".join(part.response or "" for part in parts))


def test_format_json_gives_a_json_object(client: ollama.Client) -> None:
    answer = client.generate(
        model=MODEL, prompt="Give a JSON object with the keys name and age for a customer.", format="json", options={**GREEDY, "num_predict": 64}
    )
    assert answer.done_reason == "stop"
    assert isinstance(json.loads(answer.response), dict)


def test_num_predict_limits_the_answer(client: ollama.Client) -> None:
    answer = client.generate(model=MODEL, prompt="Write a long story about a dragon.", options={**GREEDY, "num_predict": 5})
    assert answer.done_reason == "length"
    assert answer.eval_count == 5


def test_stop_sequences_end_the_answer_before_them(client: ollama.Client) -> None:
    prompt = "Monday, Tuesday, Wednesday,"  # greedy SmolLM2 goes on with " and Thursday) to create a 3-day weekend..."
    answer = client.generate(model=MODEL, prompt=prompt, raw=True, options={**GREEDY, "num_predict": 24, "stop": ["Thursday"]})
    assert answer.done_reason == "stop"  # the stop sequence, well before num_predict
    assert "Thursday" not in answer.response
    assert answer.eval_count < 24


def test_a_seed_makes_sampling_repeatable(client: ollama.Client) -> None:
    def answer(options: dict[str, Any]) -> str:
        return client.generate(model=MODEL, prompt="Invent a name for a cat.", options={**options, "num_predict": 16}).response

    assert answer(GREEDY) == answer(GREEDY)
    sampled = {"temperature": 1.0, "seed": 42}
    assert answer(sampled) == answer(sampled)


def test_concurrent_requests_queue_and_all_succeed(llm: RunningLlm) -> None:
    """One llama.cpp context cannot run two generations at once (it aborts the process): they must queue."""
    answers: dict[int, str] = {}
    failures: list[BaseException] = []

    def work(index: int) -> None:
        try:
            own = ollama.Client(host=llm.url, timeout=120)
            options = {"num_predict": 24, "seed": index}
            if index % 3 == 0:
                parts = own.chat(model=MODEL, messages=ask(f"Say something about the number {index}."), options=options, stream=True)
                answers[index] = "".join(part.message.content or "" for part in parts)
            elif index % 3 == 1:
                answers[index] = own.generate(model=MODEL, prompt=f"Count from {index}.", options=options).response
            else:
                schema = CommentAnalysis.model_json_schema()
                answers[index] = (
                    own.chat(model=MODEL, messages=ask(COMMENT), format=schema, options={**options, "num_predict": 96}).message.content or ""
                )
        except BaseException as error:  # noqa: BLE001 - reported below, from the test's thread
            failures.append(error)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures
    assert sorted(answers) == list(range(6))
    assert all(answer.strip() for answer in answers.values())
    with httpx.Client(base_url=llm.url, timeout=10) as http:
        assert http.get("/api/version").status_code == 200  # the same process: nothing restarts it
    assert "Traceback" not in llm.log.read_text()


def test_a_client_that_goes_away_mid_stream_frees_the_model(llm: RunningLlm, client: ollama.Client) -> None:
    body = {"model": MODEL, "prompt": "Write a very long essay about the history of the world.", "options": {"num_predict": 1500}}
    with httpx.Client(base_url=llm.url, timeout=60) as http, http.stream("POST", "/api/generate", json=body) as response:
        for index, _ in enumerate(response.iter_lines()):
            if index == 3:
                break  # closes the connection with about 1,500 tokens (15 s) still to write
    answer = client.generate(model=MODEL, prompt="Hi", options={"num_predict": 8})
    assert answer.done is True
    # It hardly waited for the model: the abandoned generation had stopped. Measured against this run's own
    # speed, not a wall-clock limit, because a loaded CI machine generates several times slower.
    seconds_per_token = answer.eval_duration / 1e9 / answer.eval_count
    assert answer.load_duration / 1e9 < 0.25 * 1000 * seconds_per_token
    deadline = time.monotonic() + 5
    while "the client went away" not in llm.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "the client went away" in llm.log.read_text()


def test_an_unknown_model_is_a_404_as_from_ollama(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as raised:
        client.chat(model="llama3:70b", messages=ask("Hi"))
    assert raised.value.status_code == 404
    assert raised.value.error == "model 'llama3:70b' not found"
    with pytest.raises(ollama.ResponseError) as raised:
        client.show("llama3:70b")
    assert raised.value.status_code == 404


def test_aliases_of_the_model_are_accepted(client: ollama.Client) -> None:
    for name in ("smollm2", "SmolLM2:135M", "SmolLM2-135M-Instruct.Q4_1.gguf"):
        assert client.generate(model=name, prompt="Hi", options={"num_predict": 2}).model == name


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"model": "smollm2:135m", "messages": [', "invalid JSON body"),
        (b'["not", "an", "object"]', "JSON object"),
        (b'{"messages": []}', "model"),
        (b'{"model": "smollm2:135m", "messages": "hello"}', "messages"),
        (b'{"model": "smollm2:135m", "messages": [{"content": "no role"}]}', "role"),
        (b'{"model": "smollm2:135m", "messages": [{"role": "user", "content": "x"}], "options": {"temperature": "hot"}}', "temperature"),
        (b'{"model": "smollm2:135m", "messages": [{"role": "user", "content": "x"}], "format": "xml"}', "format"),
        (b'{"model": "smollm2:135m", "messages": [{"role": "user", "content": "x"}], "format": {"type": "nonsense"}}', "format"),
        (b'{"model": "smollm2:135m", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}', "tools"),
    ],
)
def test_a_malformed_body_is_a_400_with_an_error(llm: RunningLlm, body: bytes, expected: str) -> None:
    with httpx.Client(base_url=llm.url, timeout=30) as http:
        response = http.post("/api/chat", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert expected in response.json()["error"]


def test_an_empty_chat_or_prompt_only_loads_the_model(client: ollama.Client) -> None:
    assert client.chat(model=MODEL, messages=[]).done_reason == "load"
    assert client.generate(model=MODEL, prompt="").done_reason == "load"


def test_a_prompt_longer_than_the_context_is_a_400(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as raised:
        client.generate(model=MODEL, prompt="word " * 3000, stream=True).__next__()
    assert raised.value.status_code == 400
    assert "context" in raised.value.error
