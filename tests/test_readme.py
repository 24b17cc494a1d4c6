"""The README's promises: the two set-up commands, the CI script running the same test
command, the library example running as written, and every local link resolving."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def _bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", README, flags=re.S)


def test_readme_has_the_two_setup_commands() -> None:
    commands = [line.strip() for block in _bash_blocks() for line in block.splitlines()]
    assert "python -m pip install . && dnoutcomes report data/sample --out report.html" in commands
    assert 'python -m pip install -e ".[test]" && python -m pytest -n 2' in commands


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert 'python -m pip install -e ".[test]" && python -m pytest -n 2' in ci
    for check in ("ruff check", "mypy"):
        assert check in ci


def test_local_links_resolve() -> None:
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    local = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert local, "the README links its docs"
    missing = [link for link in local if not (REPO / link).exists()]
    assert missing == []


@pytest.mark.slow
def test_library_example_runs_as_written() -> None:
    block = re.search(r"```python\n(.*?)```", README, flags=re.S)
    assert block is not None
    code = block.group(1)
    proc = subprocess.run(
        [sys.executable, "-W", "ignore::UserWarning", "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ANCOVA" in proc.stdout or "nprs" in proc.stdout.lower()
