"""CSV for Excel: UTF-8 with a byte-order mark (so Excel keeps the Chinese), and no cell that a
spreadsheet would run as a formula.

A crew's note, an operator's shelve reason, a device's message may start with ``=``, ``+``, ``-``
or ``@`` (``=HYPERLINK("http://…")`` in a record's note reached the manager's spreadsheet as a live
link): such a text cell is written with a leading ``'``, which Excel shows as text (OWASP's CSV
injection advice). Numbers are written as they are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

BOM = "\ufeff"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """``value`` as a CSV cell: None empty, a text that a spreadsheet would run quoted as text."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_text(rows: Iterable[Iterable[Any]]) -> str:
    """The rows as CSV text for Excel (BOM first, every cell through :func:`cell`)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([cell(value) for value in row] for row in rows)
    return BOM + out.getvalue()
