"""`make publish` pushes every image, tagged with the version, the git commit and latest, to a real registry
(Debian's docker-registry, the CNCF Distribution server); pulled back, each has the digest that was pushed."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from tests.support.containers import BuiltImages, engine_environment, podman
from tests.support.paths import ROOT
from tests.support.prerequisites import require
from tests.support.servers import free_port
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.containers, pytest.mark.integration]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require(shutil.which("docker-registry") is not None, "docker-registry is not installed (make system-deps installs it)")
    folder = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = folder / "config.yml"
    config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n")
    with (folder / "registry.log").open("w") as log:
        process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)  # noqa: S607
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/v2/"), timeout=30, message="docker-registry did not start")
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def make_publish(registry: str) -> subprocess.CompletedProcess[str]:
    environment = {**engine_environment(), "CHURNOPS_REGISTRY": registry}
    return subprocess.run(["make", "publish"], cwd=ROOT, capture_output=True, text=True, env=environment, timeout=900, check=False)  # noqa: S607


def test_publish_pushes_version_commit_and_latest_and_the_pull_has_the_same_digest(images: BuiltImages, registry: str) -> None:
    target = f"{registry}/churnops"
    published = make_publish(target)
    assert published.returncode == 0, published.stdout + published.stderr
    pushed = dict(re.findall(r"^pushed (\S+) (sha256:[0-9a-f]{64})$", published.stdout, flags=re.MULTILINE))
    for image in ("api", "jobs"):
        for tag in (images.version, images.commit, "latest"):
            assert f"{target}/churnops-{image}:{tag}" in pushed, f"{image}:{tag} not pushed: {published.stdout}"
        # The registry itself lists the three tags and serves the manifest under the pushed digest.
        tags = httpx.get(f"http://{registry}/v2/churnops/churnops-{image}/tags/list").json()["tags"]
        assert set(tags) == {images.version, images.commit, "latest"}

    remote = f"{target}/churnops-api:{images.commit}"
    repository, digest = remote.rsplit(":", 1)[0], pushed[remote]
    # The registry serves the manifest under the digest the push reported...
    manifest = httpx.head(
        f"http://{registry}/v2/churnops/churnops-api/manifests/{images.commit}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    assert manifest.headers["Docker-Content-Digest"] == digest
    # ... and a pull from the registry (the local tag removed first) yields that digest and the image built here.
    podman("rmi", remote)
    podman("pull", "--tls-verify=false", remote)
    repo_digests = podman("image", "inspect", "--format", "{{json .RepoDigests}}", remote).stdout
    assert f"{repository}@{digest}" in repo_digests
    by_digest = podman("pull", "--tls-verify=false", f"{repository}@{digest}").stdout.strip().splitlines()[-1]
    built = podman("image", "inspect", "--format", "{{.Id}}", images.tag("api")).stdout.strip()
    assert by_digest == built


def test_publish_without_a_registry_says_what_to_set() -> None:
    environment = {key: value for key, value in engine_environment().items() if key != "CHURNOPS_REGISTRY"}
    result = subprocess.run(["make", "publish"], cwd=ROOT, capture_output=True, text=True, env=environment, timeout=120, check=False)  # noqa: S607
    assert result.returncode != 0
    assert "CHURNOPS_REGISTRY" in result.stderr and "docker.io/" in result.stderr
    assert "Traceback" not in result.stderr
