"""Tables that fit a terminal: headers on two lines, long lists wrapped, prose lines wrapped.

``tabulate`` renders multi-line cells and headers. In a table of ``width`` columns, columns with
no value at all are left out, headers get no padding and break before their units (``MEMORY`` over
``(MB, with server)``), and the cells of chosen columns wrap to the width the other columns
leave: comma-separated lists (the models of a GPU, the points of a model) at their commas, to at
least ``MIN_LIST_WIDTH``, or long names at their underscores, to at least ``MIN_NAME_WIDTH``. A
table with many columns of numbers may still overflow (the model table with targets needs ~120).
``width=None`` renders everything on one line per row (``--wide``, and output that is not a
terminal).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager

import tabulate as tabulate_module
from tabulate import tabulate

MIN_LIST_WIDTH = 24
MIN_NAME_WIDTH = 12
_GAP = 2  # tabulate's "simple" format puts two spaces between columns
_FLOATS = ".6g"


def _narrow(header: str) -> str:
    head, sep, units = header.partition(" (")
    return f"{head}\n({units}" if sep else header


def _tokens(cell: str, width: int, sep: str) -> list[tuple[str, str]]:
    """(joiner, text) pieces: the parts between ``sep``; a part too long splits before `` (``."""
    out: list[tuple[str, str]] = []
    for k, part in enumerate(cell.split(sep)):
        head, paren, tail = part.partition(" (")
        words = [head, paren.strip() + tail] if paren and len(part) > width else [part]
        out += [(sep if k and not j else " " if j else "", w) for j, w in enumerate(words)]
    return out


def _wrap(cell: object, width: int, sep: str) -> object:
    """``cell``'s parts (split at ``sep``) on as few lines of at most ``width`` characters as they allow.

    A part longer than ``width`` breaks before its parenthesis (``name`` over ``(b1 c1)``); a line
    break keeps the separator's first character at the end of the line (``a,`` ``b_``).
    """
    if not isinstance(cell, str) or len(cell) <= width:
        return cell
    lines: list[str] = []
    for joiner, text in _tokens(cell, width, sep):
        if lines and len(lines[-1]) + len(joiner) + len(text) <= width:
            lines[-1] += joiner + text
        else:
            if lines:
                lines[-1] += joiner.rstrip()
            lines.append(text)
    return "\n".join(lines)


@contextmanager
def _unpadded_headers() -> Iterator[None]:
    """Tabulate pads every header by ``MIN_PADDING`` (2) characters; none in a fitted table."""
    saved = tabulate_module.MIN_PADDING
    tabulate_module.MIN_PADDING = 0
    try:
        yield
    finally:
        tabulate_module.MIN_PADDING = saved


def render(
    headers: list[str], rows: list[list], wraps: tuple[tuple[int, str], ...] = (), width: int | None = None
) -> str:
    """The table; with ``width``, fitted to it (module docstring).

    ``wraps``: (column, separator) pairs, in the order they give up width: ``(2, ", ")`` wraps a
    list at its commas, ``(0, "_")`` a long name at its underscores.
    """
    if width is None:
        return tabulate(rows, headers=headers, floatfmt=_FLOATS, missingval="-")
    wrapped = {k for k, _ in wraps}
    keep = [k for k in range(len(headers)) if k in wrapped or any(row[k] is not None for row in rows)]
    headers = [_narrow(headers[k]) for k in keep]
    rows = [[row[k] for k in keep] for row in rows]
    with _unpadded_headers():
        for column, sep in wraps:
            rows = _fit_column(headers, rows, keep.index(column), sep, width)
        return tabulate(rows, headers=headers, floatfmt=_FLOATS, missingval="-")


def _fit_column(headers: list[str], rows: list[list], column: int, sep: str, width: int) -> list[list]:
    """``rows`` with ``column``'s cells wrapped to the width the other columns leave."""
    others = [[c for k, c in enumerate(row) if k != column] for row in rows]
    rest_headers = [h for k, h in enumerate(headers) if k != column]
    rest = tabulate(others, headers=rest_headers, floatfmt=_FLOATS, missingval="-")
    used = max((len(line) for line in rest.splitlines()), default=0) + _GAP
    least = MIN_LIST_WIDTH if sep == ", " else MIN_NAME_WIDTH
    room = max(least, width - used, *(len(line) for line in headers[column].splitlines()))
    return [[_wrap(c, room, sep) if k == column else c for k, c in enumerate(row)] for row in rows]


def wrap_line(line: str, width: int | None, indent: str = "  ") -> str:
    """``line`` wrapped to ``width`` with continuation lines indented; unchanged without a width."""
    if width is None or len(line) <= width:
        return line
    return textwrap.fill(line, width, subsequent_indent=indent, break_on_hyphens=False)
