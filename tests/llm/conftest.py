"""One real `churnops llm serve` per test module: the packaged SmolLM2-135M-Instruct, no mock anywhere."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.prerequisites import require_llm_extra
from tests.support.servers import TEST_THREADS, RunningLlm, llm_server


@pytest.fixture(scope="module")
def llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLlm]:
    require_llm_extra()
    folder = tmp_path_factory.mktemp("llm")
    with llm_server(folder / "llm.log", *TEST_THREADS) as url:
        yield RunningLlm(url, folder / "llm.log")
