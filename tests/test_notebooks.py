"""The teaching notebooks: they run top to bottom on data/sample and their saved outputs are
current.

Each committed notebook is executed in a fresh ``python3`` kernel with nbclient, working
directory ``notebooks/`` (as ``notebooks/_build.py`` does), and fails on any error. Its
outputs are then compared with the committed ones after removing what changes from run to
run by nature: execution counts, timings, memory addresses, the kernel's cell file names,
temporary folder names and image bytes (an image must exist where one was saved, its bytes
are not compared). Stream text is compared per stream (stdout, stderr), text/plain,
text/html and text/markdown after normalising. Notebook 04 also runs with other parameters
(another period, one site) through papermill.

Regenerate the notebooks with ``python notebooks/_build.py`` after changing the package.
"""

from __future__ import annotations

import copy
import difflib
import importlib.util
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
NAMES = [p.stem for p in NOTEBOOKS]
EXPECTED = [
    "01_load_and_check",
    "02_compare_treatments",
    "03_confounding_and_sites",
    "04_periodic_report",
]
TEXT_TYPES = ("text/plain", "text/html", "text/markdown", "text/latex", "application/json")
IMAGE_TYPES = ("image/png", "image/svg+xml", "image/jpeg")


def _load_builder() -> Any:
    spec = importlib.util.spec_from_file_location("_nb_build", NOTEBOOK_DIR / "_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_nb_build"] = module
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------------------------
# Normalising outputs
# --------------------------------------------------------------------------------------------

_TMP = re.escape(tempfile.gettempdir().rstrip("/"))
_VOLATILE = (
    # the kernel's file name for a cell: /tmp/ipykernel_12345/2837465.py
    (re.compile(r"/[^\s'\"]*ipykernel_\d+/\d+\.py"), "<cell>"),
    # a temporary folder made by the notebook: /tmp/dn_broken_x1y2z3, /tmp/tmpab12cd
    (re.compile(_TMP + r"/[^\s/'\"<>]+"), "<tmp>"),
    # default reprs: <dnoutcomes.stats._mod.Result at 0x7f3a...> (the address changes every
    # run, the private module path with every refactoring)
    (re.compile(r"<(?:[A-Za-z_][\w.]*\.)?(\w+)(?: object)? at 0x[0-9a-fA-F]+>"), r"<\1 object>"),
    # any other memory address
    (re.compile(r"0x[0-9a-fA-F]{6,}"), "0x<addr>"),
    # terminal colour codes in tracebacks and warnings
    (re.compile(r"\x1b\[[0-9;]*m"), ""),
    # matplotlib's one-off notice on a machine where it has never run
    (re.compile(r"Matplotlib is building the font cache[^\n]*\n?"), ""),
)


def normalise_text(text: str | list[str]) -> str:
    """Remove what changes between runs from one output text."""
    if isinstance(text, list):
        text = "".join(text)
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def normalise_outputs(outputs: list[Any]) -> dict[str, Any]:
    """One cell's outputs in a comparable form.

    Returns a dict with ``streams`` ({name: all text of that stream, normalised}) and
    ``rich`` (the other outputs in order: their type, their text outputs normalised and the
    image types they hold, without the bytes).
    """
    streams: dict[str, str] = {}
    rich: list[dict[str, Any]] = []
    for out in outputs:
        kind = out["output_type"]
        if kind == "stream":
            streams[out["name"]] = streams.get(out["name"], "") + "".join(out["text"])
        elif kind == "error":
            rich.append({"type": "error", "ename": out["ename"], "evalue": out["evalue"]})
        else:
            data = out.get("data", {})
            rich.append(
                {
                    "type": "display" if kind == "display_data" else "result",
                    "text": {k: normalise_text(data[k]) for k in TEXT_TYPES if k in data},
                    "images": sorted(k for k in IMAGE_TYPES if k in data),
                }
            )
    return {
        "streams": {k: normalise_text(v) for k, v in sorted(streams.items())},
        "rich": rich,
    }


def _as_lines(normalised: dict[str, Any]) -> list[str]:
    """The normalised outputs of one cell as labelled lines, for a readable diff."""
    lines = []
    for name, text in normalised["streams"].items():
        lines += [f"[{name}] {line}" for line in text.splitlines()]
    for i, item in enumerate(normalised["rich"]):
        if item["type"] == "error":
            lines.append(f"[{i} error] {item['ename']}: {item['evalue']}")
            continue
        for mime, text in item["text"].items():
            lines += [f"[{i} {item['type']} {mime}] {line}" for line in text.splitlines()]
        lines += [f"[{i} {item['type']}] {mime} (an image)" for mime in item["images"]]
    return lines


def differences(saved: Any, fresh: Any) -> list[str]:
    """Say, cell by cell, where a re-executed notebook's outputs differ from the saved ones
    (a short unified diff of the normalised outputs of each cell that differs)."""
    found = []
    saved_cells = [c for c in saved.cells if c.cell_type == "code"]
    fresh_cells = [c for c in fresh.cells if c.cell_type == "code"]
    if len(saved_cells) != len(fresh_cells):
        return [f"{len(saved_cells)} code cells saved, {len(fresh_cells)} executed"]
    for i, (a, b) in enumerate(zip(saved_cells, fresh_cells, strict=True), start=1):
        na, nb_ = normalise_outputs(a.get("outputs", [])), normalise_outputs(b.get("outputs", []))
        if na != nb_:
            head = a.source.splitlines()[0] if a.source else ""
            diff = difflib.unified_diff(
                _as_lines(na),
                _as_lines(nb_),
                "saved",
                "fresh",
                n=0,
                lineterm="",
            )
            lines = [line[:160] for line in diff]
            found.append(f"code cell {i} ({head!r}):\n" + "\n".join(lines[:12]))
    return found


def execute(nb: Any, cwd: Path = NOTEBOOK_DIR) -> Any:
    """Run a copy of ``nb`` top to bottom in a fresh kernel; raise on the first error."""
    run = copy.deepcopy(nb)
    for cell in run.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    client = nbclient.NotebookClient(
        run,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
        record_timing=False,
        coalesce_streams=True,
    )
    client.execute()
    return run


# --------------------------------------------------------------------------------------------
# Fast checks on the committed files
# --------------------------------------------------------------------------------------------


def test_every_notebook_of_the_issue_is_committed() -> None:
    assert NAMES == EXPECTED


def test_committed_cells_are_the_builders_cells() -> None:
    """Nobody hand-edited a notebook: its cells are what ``_build.py`` writes."""
    builder = _load_builder()
    assert sorted(builder.NOTEBOOKS) == EXPECTED
    for path in NOTEBOOKS:
        saved = nbformat.read(path, as_version=4)
        built = builder.make_notebook(builder.NOTEBOOKS[path.stem](), path.stem)
        assert [(c.cell_type, c.source) for c in saved.cells] == [
            (c.cell_type, c.source) for c in built.cells
        ], f"{path.name} differs from notebooks/_build.py: run `python notebooks/_build.py`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_committed_notebook_has_outputs_question_and_answer(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "saved without running"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for c in code for o in c.outputs)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and "**The question.**" in first.source
    answer = [i for i, c in enumerate(nb.cells) if "## The answer" in c.source]
    assert answer, "no '## The answer' section"
    shown = [
        o
        for c in nb.cells[answer[0] :]
        if c.cell_type == "code"
        for o in c.outputs
        if "text/markdown" in o.get("data", {})
    ]
    assert shown, "the answer is not computed from the data (no Markdown output after it)"


def test_normalising_keeps_real_differences_and_drops_volatile_ones() -> None:
    tmp = tempfile.gettempdir()
    a: list[dict[str, Any]] = [
        {"output_type": "stream", "name": "stdout", "text": "n = 197\n"},
        {"output_type": "stream", "name": "stdout", "text": f"at {tmp}/dn_broken_ab12/export\n"},
        {
            "output_type": "execute_result",
            "execution_count": 3,
            "data": {"text/plain": "<Foo at 0x7f9869b71e90>", "image/png": "AAAA"},
            "metadata": {},
        },
        {
            "output_type": "stream",
            "name": "stderr",
            "text": "Matplotlib is building the font cache; this may take a moment.\n"
            "/tmp/ipykernel_17790/97.py:1: W",
        },
    ]
    b = copy.deepcopy(a)
    b[0:2] = [
        {"output_type": "stream", "name": "stdout", "text": f"n = 197\nat {tmp}/tmpzz/export\n"}
    ]
    b[1]["execution_count"] = 9
    b[1]["data"] = {"text/plain": "<dnoutcomes._x.Foo at 0x55d0aa01bc40>", "image/png": "BBBB"}
    b[2]["text"] = "/tmp/ipykernel_4242/11.py:1: W"
    assert normalise_outputs(a) == normalise_outputs(b)
    changed = copy.deepcopy(b)
    changed[0]["text"] = f"n = 198\nat {tmp}/tmpzz/export\n"
    assert normalise_outputs(a) != normalise_outputs(changed)
    no_image = copy.deepcopy(b)
    no_image[1]["data"] = {"text/plain": "<Foo at 0x55d0aa01bc40>"}
    assert normalise_outputs(a) != normalise_outputs(no_image)


# --------------------------------------------------------------------------------------------
# Executing the notebooks
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_notebook_runs_and_its_saved_outputs_are_current(path: Path) -> None:
    saved = nbformat.read(path, as_version=4)
    try:
        fresh = execute(saved)
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{path.name} fails on data/sample:\n{exc}")
    stale = differences(saved, fresh)
    assert not stale, (
        f"{path.name}: the saved outputs are stale; run `python notebooks/_build.py "
        f"{path.stem[:2]}` and commit.\n" + "\n".join(stale[:3])
    )


@pytest.mark.slow
def test_report_notebook_runs_from_the_command_line_for_another_period_and_one_site(
    tmp_path: Path,
) -> None:
    pytest.importorskip("papermill")
    html = tmp_path / "north.html"
    executed = tmp_path / "04_north.ipynb"
    command = [
        sys.executable,
        "-m",
        "papermill",
        str(NOTEBOOK_DIR / "04_periodic_report.ipynb"),
        str(executed),
        "--cwd",
        str(NOTEBOOK_DIR),
        "--kernel",
        "python3",
        "--no-progress-bar",
        "-p",
        "period",
        "2025-06",
        "-p",
        "site",
        "north",
        "-p",
        "out",
        str(html),
        "-p",
        "run_time",
        "2026-07-01T09:00:00",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    text = html.read_text(encoding="utf-8")
    assert "2025-06" in text and "north" in text
    assert "2025-Q3" not in text  # the committed default period is not what was reported
    assert "central_pt" not in text and "south_pt" not in text  # one site's therapists only
    nb = nbformat.read(executed, as_version=4)
    answers = [
        "".join(o["data"]["text/markdown"])
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "text/markdown" in o.get("data", {})
    ]
    assert answers and answers[-1].startswith("**2025-06, site north.**")
    assert str(html) in answers[-1]
