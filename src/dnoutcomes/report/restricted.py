"""The restricted output of a report (``dnoutcomes report --restricted FILE``): the
listings that name episodes, kept out of every circulated output.

The file is a JSON document whose first key says it is not for circulation; it is
byte-identical for the same inputs and run time.
"""

from __future__ import annotations

import json
import os
from typing import Any

from dnoutcomes.report._atomic import write_atomic
from dnoutcomes.report.model import Report

__all__ = ["NOT_FOR_CIRCULATION", "restricted_document", "write_restricted"]

#: The notice at the top of the restricted file.
NOT_FOR_CIRCULATION = (
    "NOT FOR CIRCULATION: this file names episodes for clinical review. Keep it inside "
    "the clinic's record system; the report itself is the document to circulate."
)


def restricted_document(report: Report) -> dict[str, Any]:
    """The restricted listings as plain JSON values.

    Parameters
    ----------
    report
        A built report.

    Returns
    -------
    dict
        ``not_for_circulation`` (the notice), ``period``, ``site``, ``run_time`` and
        ``listings``: ``{key: {"title": …, "columns": […], "rows": [[…], …]}}`` (empty
        when nothing needs review).
    """
    listings = {
        table.key: {
            "title": table.title,
            "columns": [str(c) for c in table.frame.columns],
            "rows": table.frame.astype(str).to_numpy().tolist(),
        }
        for table in report.restricted
    }
    return {
        "not_for_circulation": NOT_FOR_CIRCULATION,
        "period": report.period.label,
        "site": report.site,
        "run_time": report.provenance.run_time,
        "listings": listings,
    }


def write_restricted(report: Report, path: str | os.PathLike[str]) -> None:
    """Write the restricted listings to ``path`` atomically (JSON, UTF-8).

    Parameters
    ----------
    report
        A built report.
    path
        The file to write; its folder must exist.

    Returns
    -------
    None
    """
    text = json.dumps(restricted_document(report), ensure_ascii=False, indent=2) + "\n"
    write_atomic(path, text.encode("utf-8"))
