"""Where the operations commands write: a JSON file, an HTML page, or JSON on stdout when neither is given."""

from __future__ import annotations

import argparse
import json
from typing import Any, Callable

from ._util import CliError, check_output, write_text


def add_page_outputs(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--json", metavar="FILE", help=f"write the {what} as JSON ('-' for stdout)")
    p.add_argument("--html", metavar="FILE", help=f"write the {what} as a self-contained HTML page")


def page_outputs(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """``(json_path, html_path)``, checked before any work; JSON goes to stdout when neither is given."""
    json_path, html_path = args.json, args.html
    if json_path is None and html_path is None:
        json_path = "-"
    if json_path == "-" and html_path == "-":
        raise CliError("--json and --html cannot both write to stdout")
    check_output(json_path)
    check_output(html_path)
    return json_path, html_path


def write_pages(json_path: str | None, html_path: str | None, result: dict[str, Any],
                render: Callable[[dict[str, Any]], str]) -> list[str]:
    """Write the JSON and the HTML (each atomically); the lines saying what went where."""
    said = []
    if json_path is not None:
        write_text(json_path, json.dumps(result, ensure_ascii=False, indent=2) + "\n")
        if json_path != "-":
            said.append(f"wrote JSON to {json_path}")
    if html_path is not None:
        write_text(html_path, render(result))
        if html_path != "-":
            said.append(f"wrote HTML to {html_path}")
    return said
