"""Audit the locked dependencies (uv.lock) for known vulnerabilities with pip-audit.

    uv run --frozen python scripts/audit_dependencies.py [--strict]

Exports the lock as a requirements file with hashes (`uv export --frozen`), runs pip-audit on it
(no pip, no resolution: exactly the locked versions) and prints a summary.

Exit status: 1 when a vulnerability is found; 1 too when packages could not be audited and
--strict is given or CHURNOPS_AUDIT_STRICT=true (CI sets it); 2 when the audit itself cannot
run; else 0. Without --strict, packages that could not be audited are reported loudly but do
not fail: a machine that reaches neither PyPI's per-version JSON API nor OSV (a mirror, no
internet) can audit nothing, and that must not pass for a clean audit.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parents[1]
TRUE = ("1", "true", "yes", "on")


def find_uv() -> str:
    """uv as the Makefile finds it: on PATH, else ~/.local/bin/uv."""
    found = shutil.which("uv")
    fallback = Path.home() / ".local" / "bin" / "uv"
    if found:
        return found
    if fallback.is_file() and os.access(fallback, os.X_OK):
        return str(fallback)
    fail(f"uv is neither on PATH nor at {fallback}. Install it with `make env` (or see https://docs.astral.sh/uv/).")


def fail(message: str) -> NoReturn:
    print(f"audit_dependencies: {message}", file=sys.stderr)
    sys.exit(2)


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603 - fixed uv and pip-audit commands, no shell


def locked_requirements(uv: str, folder: Path) -> Path:
    exported = run([uv, "export", "--frozen", "--no-emit-project", "--format", "requirements-txt"])
    if exported.returncode != 0:
        fail(f"`uv export` failed:\n{exported.stderr.strip()}")
    path = folder / "requirements.txt"
    path.write_text(exported.stdout, encoding="utf-8")
    return path


def pip_audit(requirements: Path) -> list[dict[str, Any]]:
    command = [sys.executable, "-m", "pip_audit", "-r", str(requirements), "--disable-pip", "--format", "json", "--progress-spinner", "off"]
    audited = run(command)
    try:
        report = json.loads(audited.stdout)
    except json.JSONDecodeError:
        fail(f"pip-audit failed (exit {audited.returncode}):\n{audited.stderr.strip() or audited.stdout.strip()}")
    return list(report["dependencies"])


def general_reason(reason: str) -> str:
    """'... could not be audited: numpy (2.3.1)' -> '... could not be audited', to count alike reasons together."""
    return re.sub(r":\s*\S+ \([^)]*\)\s*$", "", reason)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="fail when any package could not be audited (also CHURNOPS_AUDIT_STRICT=true)")
    args = parser.parse_args()
    strict = args.strict or os.environ.get("CHURNOPS_AUDIT_STRICT", "").strip().lower() in TRUE

    uv = find_uv()
    with tempfile.TemporaryDirectory(prefix="churnops-audit-") as folder:
        dependencies = pip_audit(locked_requirements(uv, Path(folder)))

    skipped = [dependency for dependency in dependencies if "skip_reason" in dependency]
    audited = [dependency for dependency in dependencies if "skip_reason" not in dependency]
    vulnerable = [dependency for dependency in audited if dependency.get("vulns")]
    findings = sum(len(dependency["vulns"]) for dependency in vulnerable)

    print(f"pip-audit on the {len(dependencies)} locked packages of uv.lock")
    print(f"  audited:               {len(audited)}")
    print(f"  vulnerabilities:       {findings} in {len(vulnerable)} packages")
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            aliases = f" ({', '.join(vuln['aliases'])})" if vuln.get("aliases") else ""
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
            print(f"    {dependency['name']} {dependency.get('version', '?')}: {vuln['id']}{aliases}; fixed in: {fixes}")
    print(f"  could not be audited:  {len(skipped)}")
    for reason, count in Counter(general_reason(dependency["skip_reason"]) for dependency in skipped).most_common():
        print(f"    {count} x {reason}")

    if skipped:
        if audited:
            headline = f"PARTLY AUDITED: {len(skipped)} of the {len(dependencies)} locked packages could NOT be checked for vulnerabilities."
        else:
            headline = f"NOT AUDITED: none of the {len(dependencies)} locked packages could be checked for vulnerabilities."
        print()
        print("!" * 100)
        print(f"!! {headline}")
        print("!! pip-audit got no vulnerability data for them (reasons above). 'Dependency not found on PyPI' usually")
        print("!! means the vulnerability service is out of reach: PyPI's per-version JSON API")
        print("!! (https://pypi.org/pypi/<name>/<version>/json, which a package mirror may not serve) or OSV.")
        print("!! This is NOT a clean audit. GitHub Actions (ci.yml) sets CHURNOPS_AUDIT_STRICT=true, where this fails.")
        print("!" * 100)

    if findings:
        print(f"\nFAILED: {findings} known vulnerabilities in the locked dependencies; upgrade to a fixed version (uv lock -P <package>).")
        return 1
    if skipped and strict:
        print(f"\nFAILED (strict): {len(skipped)} packages could not be audited.")
        return 1
    if not audited:
        print("\nNothing was audited, so nothing is known about vulnerabilities (pass --strict to fail on that).")
    elif skipped:
        print("\nNo known vulnerabilities among the audited packages; the rest were NOT audited (pass --strict to fail on that).")
    else:
        print("\nNo known vulnerabilities in the locked dependencies.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
