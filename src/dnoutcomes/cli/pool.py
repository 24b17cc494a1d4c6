"""``dnoutcomes pool site1.json site2.json … --out network.html [--data network.json]
[--xlsx network.xlsx]``: the network's analysis from site summaries alone.

Exit code 0 when written; 1 when a summary is damaged or edited (its checksum does not
match), of another format version, or the network has too few data for the primary
outcome; 2 for summaries of different protocols, arms or grids, a site given twice, or an
unreadable file.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Declare the ``pool`` subcommand and its arguments."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "pool",
        help="pool site summaries into the network's analysis",
        description=(
            "Pool the summaries written by 'dnoutcomes summarise' at each site into the "
            "network's analysis: ANCOVA with and without site fixed effects, responders, "
            "time to response on the grid, SMDs, DerSimonian-Laird across sites and the "
            "monthly chart data."
        ),
    )
    parser.add_argument("summaries", nargs="+", metavar="SUMMARY", help="site summary files")
    parser.add_argument("--out", required=True, metavar="FILE", help="the HTML page to write")
    parser.add_argument("--data", metavar="FILE", default=None, help="also write the JSON results")
    parser.add_argument("--xlsx", metavar="FILE", default=None, help="also write the tables")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Read and verify every summary, pool them and write the outputs atomically."""
    from dnoutcomes.cli._output import record_written
    from dnoutcomes.errors import InsufficientDataError
    from dnoutcomes.network import pool, read_summary
    from dnoutcomes.network.render import network_html, network_json, xlsx_bytes
    from dnoutcomes.report._atomic import write_atomic

    summaries = [read_summary(path) for path in args.summaries]
    try:
        result = pool(summaries, sources=list(args.summaries))
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        # a checksum that matches content of the wrong shape: not written by summarise
        raise InsufficientDataError(
            f"the site summaries {', '.join(args.summaries)} do not have the content "
            f"'dnoutcomes summarise' writes (missing or malformed {exc!s}); summarise again."
        ) from None
    outputs: list[tuple[str, str | bytes]] = [(args.out, network_html(result))]
    if args.data:
        outputs.append((args.data, network_json(result)))
    if args.xlsx:
        outputs.append((args.xlsx, xlsx_bytes(result)))
    for path, content in outputs:
        write_atomic(path, content)
        record_written(path)
    print(
        f"dnoutcomes: network of {len(result.sites)} site(s) pooled; written to "
        + ", ".join(p for p, _ in outputs),
        file=sys.stderr,
    )
    return 0
