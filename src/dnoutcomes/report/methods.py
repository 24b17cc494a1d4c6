"""The last section of the report: the methods in words, then the provenance (package
version, SHA-256 of every input file, parameters and run time)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from dnoutcomes.report._context import Context
from dnoutcomes.report.headline import COMPLETE_MEASURES
from dnoutcomes.report.model import Paragraph, Section, Table
from dnoutcomes.report.provenance import Provenance

__all__ = ["methods_section"]


def _comparison_methods(context: Context) -> str:
    """The comparisons' methods in words, from the protocol."""
    protocol = context.protocol
    if protocol is None:
        from dnoutcomes.protocol import default_protocol

        protocol = default_protocol()
    primary = protocol.primary
    covariates = ", ".join(primary.covariates or ())
    weighting = ", ".join(
        c.replace("baseline:", "baseline ") for c in protocol.weighting.covariates
    )
    weights = {
        "ate": "stabilised inverse probability of treatment weights",
        "att": "weights for the comparator arm's patients (ATT)",
        "ato": "overlap weights (ATO)",
    }[protocol.weighting.estimand]
    return (
        f"Comparisons are {context.comparator} minus {context.reference}. The primary "
        f"analysis is an ANCOVA of {primary.measure} at {primary.timepoint} adjusted for "
        f"baseline {primary.measure}"
        + (f" and {covariates}" if covariates else "")
        + "; secondary outcomes are Holm-corrected. The weighted estimate uses "
        f"{weights} from a propensity score of {weighting}, with a robust (HC0) standard "
        "error. Each analysis uses the episodes with the values it needs and says how many."
    )


def methods_section(
    context: Context, provenance: Provenance, omitted: Sequence[tuple[str, str]]
) -> Section:
    """Methods in words, then the provenance: version, input digests, parameters, run time.

    Parameters
    ----------
    context
        The report's data and parameters.
    provenance
        The run's provenance.
    omitted
        ``(section, reason)`` pairs of sections left out.

    Returns
    -------
    Section
        Paragraphs, the table ``provenance_inputs`` (``table``, ``file``, ``size_bytes``,
        ``sha256``) and ``provenance_parameters`` (``parameter``, ``value``).
    """
    blocks: list[Any] = [
        Paragraph(
            "Episodes are selected by their discharge (end) date: "
            f"{context.period.start:%Y-%m-%d} to {context.period.end:%Y-%m-%d}, compared with "
            f"{context.previous_period.start:%Y-%m-%d} to {context.previous_period.end:%Y-%m-%d}"
            + (f", at site {context.site}." if context.site else ", at every site.")
        ),
        Paragraph(_comparison_methods(context)),
        Paragraph(
            "Control charts use every arm over the 24 months up to the end of the period: an "
            "I chart (limits at the centre ± 2.66 × the mean moving range), a P chart and a U "
            "chart with Shewhart limits, and Anhøj's runs rules for shifts."
        ),
        Paragraph(
            "Summary icons (NHS England, Making Data Count): the variation icon is the latest "
            "point's type — common cause (no signal), or special cause improving or concerning "
            "(a point outside the limits, 7 in a row on one side of the mean, 7 rising or "
            "falling, or 2 of 3 beyond two-thirds of the way to a limit); the assurance icon "
            "compares the protocol's target with the latest limits — consistently met (the "
            "target lies beyond the limits on the worse side), consistently missed (beyond "
            "them on the better side) or hit and miss (between them); no target, or a run "
            "chart (fewer than 12 points, median and Anhøj's rules), gives none."
        ),
        Paragraph(
            f"Small numbers: a count from 1 to {context.min_cell - 1} is shown as "
            f"“<{context.min_cell}”, and any figure from which it could be worked back (a "
            "percentage, the complement in a row, a mean of so few episodes) as “[c]”. "
            f"Headline completeness means a baseline and a discharge value of "
            f"{' and '.join(m.upper() for m in COMPLETE_MEASURES)}."
        ),
    ]
    if getattr(context, "benchmark", "adjusted") == "adjusted":
        blocks.append(
            Paragraph(
                "Benchmarking: each episode's expected outcome comes from a case-mix model "
                "(least squares for improvement, logistic for response) fitted on every "
                "site's episodes of the reference window; each therapist's and site's mean "
                "observed − expected has a t-interval, observed ÷ expected responders a "
                "normal interval. The funnels' limits are widened for overdispersion "
                "(Spiegelhalter 2005: z-scores winsorised at the 10th and 90th percentiles, "
                "φ their mean square, additive between-unit variance τ² by default)."
            )
        )
    if omitted:
        blocks.append(
            Paragraph(
                "Left out of this report: "
                + "; ".join(f"{key} ({reason})" for key, reason in omitted)
                + "."
            )
        )
    if context.protocol is not None:
        blocks.append(
            Paragraph(
                "Study protocol (SHA-256 "
                f"{context.protocol.sha256()}): " + " ".join(context.protocol.describe())
            )
        )
    inputs = provenance.inputs_frame()
    blocks.append(
        Table(
            key="provenance_inputs",
            title="Input files",
            frame=inputs,
            labels={"table": "Table", "file": "File", "size_bytes": "Bytes", "sha256": "SHA-256"},
            formats={"size_bytes": "int"},
        )
    )
    params = pd.DataFrame(
        [("dnoutcomes version", provenance.package_version), ("run time", provenance.run_time)]
        + list(provenance.parameters),
        columns=["parameter", "value"],
    )
    blocks.append(
        Table(
            key="provenance_parameters",
            title="Version, run time and parameters",
            frame=params,
            labels={"parameter": "Parameter", "value": "Value"},
            formats={"value": "text"},
        )
    )
    return Section("methods", "Methods and provenance", tuple(blocks))
