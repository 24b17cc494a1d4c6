"""The network's analysis as files: a self-contained HTML page, a JSON document and an
Excel workbook (one sheet per table). Only pooled statistics reach them."""

from __future__ import annotations

import json

import pandas as pd
from jinja2 import Environment, StrictUndefined, select_autoescape

from dnoutcomes.network.pool import NetworkAnalysis

__all__ = ["network_html", "network_json", "network_tables", "xlsx_bytes"]

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.9em}
th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:right}
th:first-child,td:first-child{text-align:left}
caption{text-align:left;font-weight:bold;padding:0.3em 0}
.meta{color:#555;font-size:0.9em}
</style></head><body>
<h1>{{ title }}</h1>
<p class="meta">Pooled from the summaries of {{ sites|length }} site(s): {{ sites|join(", ") }}.
No row left any site. Protocol SHA-256 {{ protocol }}. Effects read {{ comparator }} minus
{{ reference }} (ratios: over).</p>
{% for section in sections %}
<h2>{{ section.title }}</h2>
{% if section.text %}<p>{{ section.text }}</p>{% endif %}
{{ section.table|safe }}
{% endfor %}
{% if notes %}<h2>Notes</h2><ul>{% for n in notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}
</body></html>
"""


def network_tables(result: NetworkAnalysis) -> dict[str, pd.DataFrame]:
    """The tables of the network report, by name (the sheets of the workbook)."""
    tables: dict[str, pd.DataFrame] = {"headline": result.frame, "ancova": result.ancova_frame}
    if result.ancova_site_effects is not None:
        tables["ancova_site_effects"] = result.ancova_site_effects.table
    if result.responders is not None:
        tables["responders"] = result.responders["frame"]
    if result.time_to_response is not None:
        tables["time_to_response"] = result.time_to_response["frame"]
        tables["time_grid"] = result.time_to_response["table"]
    if result.site_meta is not None:
        tables["sites"] = result.site_meta.sites
    if result.trajectory is not None:
        tables["lmm"] = result.trajectory.table
        tables["lmm_means"] = result.trajectory.means
        tables["lmm_observed"] = result.trajectory.observed
    if result.medication is not None:
        tables["medication"] = result.medication.frame
    if result.safety is not None:
        tables["safety"] = result.safety.table
        tables["safety_severity"] = result.safety.by_severity
        tables["safety_type"] = result.safety.by_type
        tables["safety_reporter"] = result.safety.by_reporter
    if result.benchmark is not None:
        tables["benchmark"] = result.benchmark.frame[list(BENCHMARK_COLUMNS)]
    tables["baseline"] = result.baseline
    tables["monthly"] = result.monthly
    if result.chart is not None:
        tables["control_chart"] = result.chart.frame
    return tables


#: The columns of the site benchmarking table (of the funnel's frame).
BENCHMARK_COLUMNS = (
    "unit",
    "n",
    "precision",
    "value",
    "lower_inner",
    "upper_inner",
    "lower_outer",
    "upper_outer",
    "z",
    "position",
)

_TITLES = {
    "headline": "Headline estimates",
    "ancova": "ANCOVA (secondary outcomes Holm-adjusted)",
    "ancova_site_effects": "Primary outcome with site fixed effects",
    "responders": "Responders",
    "time_to_response": "Time to response (Kaplan–Meier on the grid)",
    "time_grid": "Responses and censorings per grid interval",
    "sites": "Per-site ANCOVA and DerSimonian–Laird pooling",
    "lmm": "Mixed model of the trajectory (REML, random intercept per episode)",
    "lmm_means": "Model-based means by arm and week",
    "lmm_observed": "Observed means by arm and whole week",
    "medication": "Medication at the protocol's timepoint (odds ratio; adjusted mean difference)",
    "safety": "Adverse events after DN sessions per 100 DN sessions (exact Poisson CI)",
    "safety_severity": "Adverse events by severity",
    "safety_type": "Adverse events by type",
    "safety_reporter": "Adverse events by reporter",
    "benchmark": (
        "Sites: responders observed / expected from the network's share in each arm "
        "(funnel limits 95 % and 99.8 %, additive overdispersion; not adjusted for case mix "
        "beyond the arm)"
    ),
    "baseline": "Baseline characteristics and SMDs",
    "monthly": "Monthly chart data",
    "control_chart": "P chart of the monthly share of responders",
}


def network_html(result: NetworkAnalysis) -> str:
    """The network report as one HTML page."""
    env = Environment(autoescape=select_autoescape(default=True), undefined=StrictUndefined)
    sections = []
    for name, table in network_tables(result).items():
        text = ""
        if name == "time_to_response" and result.time_to_response is not None:
            text = (
                f"Log-rank χ² = {result.time_to_response['logrank_chisq']:.3f}, "
                f"p = {result.time_to_response['logrank_p']:.4g}."
            )
        if name == "benchmark" and result.benchmark is not None:
            b = result.benchmark
            text = (
                f"precision = expected responders; n = classified episodes; "
                f"φ = {b.phi:.3g}, τ² = {b.tau2:.3g}."
            )
        if name == "sites" and result.site_meta is not None:
            m = result.site_meta
            text = (
                f"Pooled {m.estimate:.3f} ({m.conf_low:.3f} to {m.conf_high:.3f}); "
                f"τ² = {m.tau2:.3g}, I² = {m.i2:.1f} %."
            )
        sections.append(
            {
                "title": _TITLES.get(name, name),
                "text": text,
                "table": table.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep=""),
            }
        )
    page: str = env.from_string(_PAGE).render(
        title=result.title,
        sites=list(result.sites),
        protocol=result.protocol_sha256,
        reference=result.reference,
        comparator=result.comparator,
        sections=sections,
        notes=list(result.notes),
    )
    return page


def network_json(result: NetworkAnalysis) -> str:
    """The network's results as JSON text."""
    return json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n"


def xlsx_bytes(result: NetworkAnalysis) -> bytes:
    """The workbook's bytes (one sheet per table); the caller writes them atomically."""
    import io

    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, table in network_tables(result).items():
            table.to_excel(writer, sheet_name=name[:31], index=False)
    data: bytes = buffer.getvalue()
    return data
