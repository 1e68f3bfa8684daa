"""Long tables on the terminal, drawn like ``rich`` tables at a fraction of the cost.

``rich.table.Table`` measures and wraps every cell through its segment machinery: about 5 ms a
row, so a scan of 6,000 certificates spent longer drawing its table than reading the nodes.
``render`` draws the same picture (rich's default ``HEAVY_HEAD`` box, one space of padding, the
title above, header bold, a style per row) with plain string work: column widths from the
longest cell, the widest columns narrowed until the table fits the console, a cell that does not
fit wrapped at spaces and folded inside long words (rich's ``overflow="fold"``). Colour only when
the console is a terminal with colour, as ``rich`` decides (``NO_COLOR`` honoured).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

_SGR = {"bold": "1", "dim": "2", "italic": "3", "red": "31", "green": "32", "yellow": "33"}


def _sgr(style: str | None) -> str:
    if not style:
        return ""
    codes = [_SGR[word] for word in style.split() if word in _SGR]
    return f"\x1b[{';'.join(codes)}m" if codes else ""


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` characters: break at spaces, fold words longer than a line."""
    if len(text) <= width:
        return [text]
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        while len(word) > width:  # fold
            room = width - len(line) - (1 if line else 0)
            if room <= 0:
                lines.append(line)
                line = ""
                continue
            line = f"{line} {word[:room]}" if line else word[:room]
            word = word[room:]
            lines.append(line)
            line = ""
        if not line:
            line = word
        elif len(line) + 1 + len(word) <= width:
            line = f"{line} {word}"
        else:
            lines.append(line)
            line = word
    lines.append(line)
    return lines


def _fit(widths: list[int], minimum: list[int], available: int) -> list[int]:
    """Narrow the widest columns, one character at a time, until their sum is ``available``."""
    widths = list(widths)
    excess = sum(widths) - available
    while excess > 0:
        candidates = [i for i, w in enumerate(widths) if w > minimum[i]]
        if not candidates:
            break
        widest = max(widths[i] for i in candidates)
        tied = [i for i in candidates if widths[i] == widest]
        second = max([widths[i] for i in candidates if widths[i] < widest] + [max(minimum[i] for i in tied)])
        step = max(1, min(widest - second, excess // len(tied) or 1))
        for i in tied:
            if excess <= 0:
                break
            cut = min(step, widths[i] - minimum[i], excess)
            widths[i] -= cut
            excess -= cut
    return widths


def render(
    columns: Sequence[str],
    rows: Sequence[tuple[Sequence[str], str | None]],
    *,
    width: int,
    color: bool = False,
    title: str | None = None,
    title_justify: str = "center",
    right: Sequence[str] = (),
    caption: str | None = None,
) -> str:
    """The table as text: ``rows`` are (cells, style or None); ``right`` names right-justified columns."""
    n = len(columns)
    widths = [len(c) for c in columns]
    whole = all(len(cells) == n for cells, _ in rows)  # every row has a cell per column: the usual
    if whole and rows:
        for i, column in enumerate(zip(*(cells for cells, _ in rows), strict=True)):
            widths[i] = max(widths[i], *map(len, column))
    else:
        for cells, _ in rows:
            for i, cell in enumerate(cells):
                if len(cell) > widths[i]:
                    widths[i] = len(cell)
    chrome = 3 * n + 1  # a border before each column, one after the last, one space each side of a cell
    widths = _fit(widths, [1] * n, max(n, width - chrome))
    justify_right = [c in right for c in columns]
    bold, reset = ("\x1b[1m", "\x1b[0m") if color else ("", "")

    def lines_of(cells: Sequence[str], sep: str, style: str, *, bottom: bool = False) -> list[str]:
        end = reset if style else ""
        if all(len(cell) <= w for cell, w in zip(cells, widths, strict=False)):  # one line: most rows
            return [
                sep
                + sep.join(
                    f" {style}{cell.rjust(w) if r else cell.ljust(w)}{end} "
                    for cell, w, r in zip(cells, widths, justify_right, strict=False)
                )
                + sep
            ]
        parts = [_wrap(cell, widths[i]) for i, cell in enumerate(cells)]
        height = max(len(p) for p in parts)
        if bottom:  # header cells sit on the header's last line, as rich draws them
            parts = [[""] * (height - len(p)) + p for p in parts]
        out = []
        for k in range(height):
            pieces = []
            for i, p in enumerate(parts):
                text = p[k] if k < len(p) else ""
                text = text.rjust(widths[i]) if justify_right[i] else text.ljust(widths[i])
                pieces.append(f" {style}{text}{reset if style else ''} ")
            out.append(sep + sep.join(pieces) + sep)
        return out

    total = sum(widths) + chrome
    out: list[str] = []
    if title:
        shown = title if len(title) <= total else title[:total]
        pad = 0 if title_justify == "left" else (total - len(shown)) // 2
        line = " " * pad + shown + " " * (total - len(shown) - pad)
        out.append(f"\x1b[3m{line}{reset}" if color else line)
    out.append("┏" + "┳".join("━" * (w + 2) for w in widths) + "┓")
    out += lines_of(columns, "┃", bold, bottom=True)
    out.append("┡" + "╇".join("━" * (w + 2) for w in widths) + "┩")
    formats: dict[str, str] = {}  # by style: the format of one line of a row, as lines_of draws it
    styles: dict[str | None, str] = {}
    for cells, style in rows:
        sgr = styles.get(style)
        if sgr is None:
            sgr = styles[style] = _sgr(style) if color else ""
        if not whole:
            out += lines_of(cells, "│", sgr)
            continue
        fmt = formats.get(sgr)
        if fmt is None:
            end = reset if sgr else ""
            cell_formats = (
                f" {sgr}{{:{'>' if r else '<'}{w}}}{end} " for w, r in zip(widths, justify_right, strict=True)
            )
            fmt = formats[sgr] = "│" + "│".join(cell_formats) + "│"
        if all(map(operator.le, map(len, cells), widths)):  # one line: most rows
            out.append(fmt.format(*cells))
        else:
            parts = [_wrap(cell, w) for cell, w in zip(cells, widths, strict=True)]
            out += [fmt.format(*[p[k] if k < len(p) else "" for p in parts]) for k in range(max(map(len, parts)))]
    out.append("└" + "┴".join("─" * (w + 2) for w in widths) + "┘")
    if caption:
        pad = max(0, (total - len(caption)) // 2)
        out.append(" " * pad + caption + " " * max(0, total - len(caption) - pad))
    return "\n".join(out) + "\n"


def print_table(
    console: Console,
    columns: Sequence[str],
    rows: Sequence[tuple[Sequence[str], str | None]],
    **kwargs: object,
) -> None:
    """Write ``render``'s table to ``console``'s file, as wide as the console, coloured as it would be."""
    color = console.is_terminal and console.color_system is not None and not console.no_color
    text = render(columns, rows, width=console.width, color=color, **kwargs)  # type: ignore[arg-type]
    console.file.write(text)
    console.file.flush()


def print_lines(console: Console, lines: Sequence[str]) -> None:
    """``console.print(line, markup=False)`` for each line; written straight to the console's file when rich
    would write it unchanged (about 80 µs a line through rich; a scan prints a line per due renewal).

    Unchanged: no colour (not a terminal), not recording or quiet, and a line of printable ASCII that
    fits the width, has no space at either end and no two colons (rich's ``:emoji:`` codes).
    """
    plain = console.color_system is None and not console.record and not console.quiet
    out: list[str] = []
    for line in lines:
        if (
            plain
            and line.isascii()
            and line.isprintable()
            and len(line) <= console.width
            and line == line.strip()
            and line.count(":") <= 1
        ):
            out.append(line + "\n")
            continue
        if out:
            console.file.write("".join(out))
            out.clear()
        console.print(line, markup=False)
    if out:
        console.file.write("".join(out))
        console.file.flush()
