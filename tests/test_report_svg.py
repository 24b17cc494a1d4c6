"""Inline SVG: deterministic bytes, unique ids per figure, nothing external."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt

from dnoutcomes.report._svg import figure_to_svg


def _figure() -> plt.Figure:
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [3, 1, 2], label="a")
    ax.fill_between([1, 2, 3], 0, 1, alpha=0.2)
    ax.set_title("Title")
    ax.legend()
    return fig


def test_same_figure_same_svg_and_figure_closed() -> None:
    fig = _figure()
    first = figure_to_svg(fig, key="a")
    assert not plt.fignum_exists(fig.number)
    assert figure_to_svg(_figure(), key="a") == first


def test_svg_is_a_bare_element_without_date_or_external_reference() -> None:
    svg = figure_to_svg(_figure(), key="a")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<?xml" not in svg and "DOCTYPE" not in svg and "<metadata" not in svg
    assert 'width="100%"' in svg and "viewBox=" in svg
    hrefs = re.findall(r'href="([^"]*)"', svg)
    assert all(h.startswith("#") for h in hrefs)
    assert "<text" not in svg  # text drawn as paths: no font needed


def test_ids_unique_across_figures_and_references_resolve() -> None:
    one = figure_to_svg(_figure(), key="one")
    two = figure_to_svg(_figure(), key="two")
    ids_one = re.findall(r'\bid="([^"]+)"', one)
    ids_two = re.findall(r'\bid="([^"]+)"', two)
    assert len(ids_one) == len(set(ids_one))
    assert not set(ids_one) & set(ids_two)
    assert all(i == "fig-one" or i.startswith("fig-one-") for i in ids_one)
    references = re.findall(r'(?:href="#|url\(#)([^")]+)', one)
    assert references and set(references) <= set(ids_one)
