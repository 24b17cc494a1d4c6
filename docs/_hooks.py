"""MkDocs hook: publish the committed notebooks (``notebooks/*.ipynb``) under
``notebooks/`` in the site without copying them into ``docs/``.

mkdocs-jupyter renders them with ``execute: false``: the outputs are the ones committed
(``notebooks/_build.py`` executes them), so building the site runs no analysis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

_NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@event_priority(100)  # before mkdocs-jupyter turns .ipynb files into pages
def on_files(files: Files, config: Any, **_: Any) -> Files:
    """Add every ``notebooks/*.ipynb`` as a documentation file ``notebooks/<name>``."""
    for path in sorted(_NOTEBOOKS.glob("*.ipynb")):
        files.append(
            File(
                f"notebooks/{path.name}",
                src_dir=str(_NOTEBOOKS.parent),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files
