"""Prompt files: what a valid one becomes, and the message each kind of mistake gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from churnops.comments.prompts import BUILT_IN_PROMPT, Prompt, read_prompt_file
from churnops.errors import ConfigError


def test_the_built_in_prompt_is_a_system_and_a_user_message() -> None:
    messages, temperature = read_prompt_file(BUILT_IN_PROMPT)
    assert [message["role"] for message in messages] == ["system", "user"]
    assert temperature == 0.0
    prompt = Prompt("comment-analysis", 3, messages, temperature)
    assert prompt.uri == "prompts:/comment-analysis/3"
    filled = prompt.format("Too expensive {{comment}}")
    assert filled[1]["content"] == "Comment: Too expensive {{comment}}"  # the comment is inserted once, never re-expanded
    assert "{{comment}}" not in filled[0]["content"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("user: [unclosed", "cannot be read as YAML"),
        ("- a list", "needs a `user` text"),
        ("user: no placeholder here", "must contain {{comment}}"),
        ("user: '{{comment}}'\nexamples: []", "unknown keys examples"),
        ("user: '{{comment}}'\ntemperature: hot", "`temperature` must be a number from 0 to 2"),
        ("user: '{{comment}}'\ntemperature: 3", "`temperature` must be a number from 0 to 2"),
        ("user: '{{comment}}'\nsystem: [1, 2]", "`system` must be text"),
    ],
)
def test_a_bad_prompt_file_is_a_config_error_that_says_what_to_fix(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "prompt.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}").replace("[", r"\[")):
        read_prompt_file(path)


def test_a_missing_prompt_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_prompt_file(tmp_path / "nope.yaml")
