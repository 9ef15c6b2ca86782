"""Build, tag and publish the container images (`make image`, `make publish`, `make base-image`).

    python3 scripts/images.py build [--base-image IMAGE] [--only api|jobs]
    python3 scripts/images.py publish --registry docker.io/<user> [--only api|jobs]
    python3 scripts/images.py base            # a Debian bookworm base built locally (no registry needed)

The engine is Docker where a daemon answers, else podman (CONTAINER_ENGINE=docker|podman chooses).
Each image is tagged <name>:<version> (pyproject.toml), <name>:<git commit> and <name>:latest;
`publish` pushes all three to the registry and prints the digest the registry stored.
Only the standard library: it runs before (and without) the project's environment.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess  # nosec B404 - runs the container engine, git and debootstrap with fixed arguments
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = ROOT / "deploy" / "docker"
IMAGES = ("api", "jobs")
LOCAL_BASE = "localhost/churnops-base:bookworm"
# A TLS-inspecting proxy's CA lives in the host's bundle; podman mounts it into build steps that download.
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
BASE_PACKAGES = "python3,python3-venv,python-is-python3,ca-certificates"


class ImageError(Exception):
    """A failure with a message for the person running the command."""


@dataclass(frozen=True)
class Tags:
    version: str
    commit: str

    def local(self, image: str) -> list[str]:
        return [f"churnops-{image}:{tag}" for tag in (self.version, self.commit, "latest")]

    def remote(self, registry: str, image: str) -> list[str]:
        return [f"{registry.rstrip('/')}/{name}" for name in self.local(image)]


def engine() -> str:
    chosen = os.environ.get("CONTAINER_ENGINE")
    if chosen:
        if shutil.which(chosen) is None:
            raise ImageError(f"CONTAINER_ENGINE={chosen} is not installed")
        return chosen
    if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0:
        return "docker"
    if shutil.which("podman"):
        return "podman"
    raise ImageError("no container engine: install Docker (with its daemon running) or podman, or set CONTAINER_ENGINE")


def run(*command: str, quiet: bool = False) -> str:
    result = subprocess.run(command, capture_output=quiet, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip().splitlines()[-5:] if quiet else []
        raise ImageError(f"`{' '.join(command[:3])} ...` failed (exit {result.returncode})" + "".join(f"\n  {line}" for line in detail))
    return result.stdout.strip() if quiet else ""


def tags() -> Tags:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    try:
        commit = run("git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD", quiet=True)
        dirty = run("git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", quiet=True)
    except (ImageError, FileNotFoundError):
        return Tags(version, "nogit")
    return Tags(version, commit + ("-dirty" if dirty else ""))


def build(tool: str, image: str, base_image: str | None, tagged: Tags) -> None:
    command = [tool, "build", "-f", str(DOCKERFILES / f"{image}.Dockerfile")]
    command += ["--build-arg", f"VERSION={tagged.version}", "--build-arg", f"GIT_COMMIT={tagged.commit}"]
    # Also as --label: a builder's layer cache may reuse the Dockerfile's LABEL step from an earlier commit.
    command += ["--label", f"org.opencontainers.image.version={tagged.version}", "--label", f"org.opencontainers.image.revision={tagged.commit}"]
    if base_image:
        command += ["--build-arg", f"BASE_IMAGE={base_image}"]
    if tool == "podman":
        command += ["--format", "docker"]  # OCI images drop HEALTHCHECK
        if HOST_CA.is_file():
            command += ["-v", f"{HOST_CA}:{HOST_CA}:ro"]
    for name in tagged.local(image):
        command += ["-t", name]
    started = time.monotonic()
    run(*command, str(ROOT))
    size = int(run(tool, "image", "inspect", "--format", "{{.Size}}", tagged.local(image)[0], quiet=True))
    print(f"built {', '.join(tagged.local(image))}: {size / 1e6:.0f} MB in {time.monotonic() - started:.0f} s", flush=True)


def publish(tool: str, image: str, registry: str, tagged: Tags) -> None:
    insecure = (
        registry.split("/", maxsplit=1)[0].split(":", maxsplit=1)[0] in ("localhost", "127.0.0.1")
        or os.environ.get("CHURNOPS_REGISTRY_INSECURE") == "1"
    )
    for local, remote in zip(tagged.local(image), tagged.remote(registry, image), strict=True):
        run(tool, "tag", local, remote)
        command = [tool, "push"]
        with tempfile.TemporaryDirectory() as folder:
            digest_file = Path(folder) / "digest"
            if tool == "podman":
                command += ["--digestfile", str(digest_file)] + (["--tls-verify=false"] if insecure else [])
            run(*command, remote, quiet=True)
            digest = digest_file.read_text().strip() if digest_file.is_file() else _docker_digest(tool, remote)
        print(f"pushed {remote} {digest}", flush=True)


def _docker_digest(tool: str, remote: str) -> str:
    repo_digests = run(tool, "image", "inspect", "--format", '{{join .RepoDigests " "}}', remote, quiet=True).split()
    repository = remote.rsplit(":", 1)[0]
    return next((d.split("@", 1)[1] for d in repo_digests if d.startswith(repository + "@")), "unknown")


def base_image(tool: str, name: str, force: bool) -> None:
    """A Debian bookworm base with python3, from Debian's packages: for machines that cannot pull images."""
    exists = subprocess.run([tool, "image", "exists", name], capture_output=True, check=False).returncode == 0 if tool == "podman" else False
    if exists and not force:
        print(f"{name} exists (--force rebuilds it)")
        return
    if shutil.which("debootstrap") is None:
        raise ImageError("debootstrap is not installed (apt-get install debootstrap); or pass an existing base with BASE_IMAGE=")
    with tempfile.TemporaryDirectory(prefix="churnops-rootfs-") as folder:
        rootfs = Path(folder) / "rootfs"
        started = time.monotonic()
        run("debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", str(rootfs), quiet=True)
        # What an image never needs: package lists and caches, documentation, translations (about 145 MB).
        for trimmed in ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info"):
            shutil.rmtree(rootfs / trimmed, ignore_errors=True)
            (rootfs / trimmed).mkdir(parents=True, exist_ok=True)
        tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run([tool, "import", "-q", "-", name], stdin=tar.stdout, capture_output=True, text=True, check=False)
        tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise ImageError(f"importing the base image failed: {imported.stderr.strip()}")
    print(f"built {name} from Debian bookworm in {time.monotonic() - started:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_command = commands.add_parser("build", help="build the images")
    build_command.add_argument(
        "--base-image", default=os.environ.get("BASE_IMAGE") or None, help="the FROM image (default python:3.11-slim-bookworm)"
    )
    publish_command = commands.add_parser("publish", help="tag and push the built images")
    publish_command.add_argument("--registry", default=os.environ.get("CHURNOPS_REGISTRY") or None, help="e.g. docker.io/<user> (CHURNOPS_REGISTRY)")
    for command in (build_command, publish_command):
        command.add_argument("--only", choices=IMAGES, action="append", help="one image (repeatable; default all)")
    base_command = commands.add_parser("base", help="build the local Debian base image (needs root and debootstrap)")
    base_command.add_argument("--name", default=LOCAL_BASE)
    base_command.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    try:
        tool = engine()
        if args.command == "base":
            base_image(tool, args.name, args.force)
            return 0
        tagged = tags()
        for image in args.only or IMAGES:
            if args.command == "build":
                build(tool, image, args.base_image, tagged)
            elif not args.registry:
                raise ImageError("no registry: set CHURNOPS_REGISTRY (e.g. docker.io/<your Docker Hub user>) or pass --registry")
            else:
                publish(tool, image, args.registry, tagged)
    except ImageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
