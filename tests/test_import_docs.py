"""The importers' docstring examples, and the documentation site's configuration: every
guide in the navigation, one API page per public module, no link outside the project."""

from __future__ import annotations

import doctest
import importlib
import re

import pytest
from conftest import REPO

DOCS = REPO / "docs"
MKDOCS = (REPO / "mkdocs.yml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "name",
    [
        "dnoutcomes.importers._mapping",
        "dnoutcomes.importers._ids",
        "dnoutcomes.importers._fhir_outcomes",
    ],
)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_every_guide_and_notebook_is_in_the_site_navigation() -> None:
    nav = set(re.findall(r":\s*(\S+\.(?:md|ipynb))\s*$", MKDOCS, flags=re.M))
    guides = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    notebooks = {f"notebooks/{p.name}" for p in (REPO / "notebooks").glob("*.ipynb")}
    assert guides | notebooks == nav


def test_api_pages_document_existing_public_modules() -> None:
    pages = sorted((DOCS / "api").glob("*.md"))
    modules = {m for p in pages for m in re.findall(r"^::: (\S+)", p.read_text(), flags=re.M)}
    assert {
        "dnoutcomes",
        "dnoutcomes.stats",
        "dnoutcomes.qi",
        "dnoutcomes.plots",
        "dnoutcomes.sample",
        "dnoutcomes.contract",
        "dnoutcomes.importers",
    } <= modules
    for name in modules:
        assert importlib.util.find_spec(name) is not None, name


def test_docs_link_nothing_outside_the_project() -> None:
    for page in DOCS.rglob("*.md"):
        links = re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8"))
        assert not [link for link in links if "shared/" in link], page
