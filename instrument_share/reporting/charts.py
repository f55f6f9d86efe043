"""Charts as server-rendered SVG: no JavaScript, readable by screen readers (title, desc, one titled shape per
value). Pages show the same numbers in a table next to each chart."""

import itertools
from collections.abc import Callable

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 240
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 64, 12, 12, 40
BAR = "#0b5cad"
WITHHELD = "—"  # a value the public may not see
ROW = 26
_ids = itertools.count(1)


def _scale_max(values: list[int]) -> int:
    """A round top for the axis (1, 2 or 5 times a power of ten) at or above the largest value."""
    top = max([*values, 1])
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= top:
                return step * factor
        step *= 10


def _frame(title: str, desc: str, width: int, height: int, body: list[str]) -> Markup:
    n = next(_ids)
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
            f'width="100%" preserveAspectRatio="xMinYMin meet" aria-labelledby="chart{n}-t chart{n}-d">'
            f'<title id="chart{n}-t">{escape(title)}</title><desc id="chart{n}-d">{escape(desc)}</desc>')
    # Every text that reaches the SVG went through escape() above; the rest is numbers and fixed markup.
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704


def column_chart(title: str, desc: str, points: list[tuple[str, int | None]],
                 fmt: Callable[[int], str] = str) -> Markup:
    """Vertical bars, one per labelled value (months), with a zero line and the top of the scale; a value None
    (withheld from the public) has no bar and reads "—"."""
    top = _scale_max([v for _l, v in points if v is not None])
    inner_w, inner_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = inner_w / max(len(points), 1)
    base = PAD_TOP + inner_h
    body = [f'<line x1="{PAD_LEFT}" y1="{base}" x2="{WIDTH - PAD_RIGHT}" y2="{base}" stroke="#9aa5b1"/>',
            f'<text x="{PAD_LEFT - 6}" y="{PAD_TOP + 10}" text-anchor="end" font-size="11" fill="#52606d">'
            f'{escape(fmt(top))}</text>',
            f'<text x="{PAD_LEFT - 6}" y="{base}" text-anchor="end" font-size="11" fill="#52606d">{escape(fmt(0))}'
            f'</text>']
    for i, (label, value) in enumerate(points):
        h = 0 if value is None else inner_h * max(value, 0) / top
        x = PAD_LEFT + i * slot + slot * 0.15
        body.append(f'<g><title>{escape(label)}: {escape(WITHHELD if value is None else fmt(value))}</title>'
                    f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" fill="{BAR}"/>'
                    f'</g>')
        body.append(f'<text x="{x + slot * 0.35:.1f}" y="{base + 16}" text-anchor="middle" font-size="10" '
                    f'fill="#52606d" aria-hidden="true">{escape(label)}</text>')
    return _frame(title, desc, WIDTH, HEIGHT, body)


def bar_list(title: str, desc: str, points: list[tuple[str, int | None]], fmt: Callable[[int], str] = str) -> Markup:
    """Horizontal bars for a ranking (busiest instruments, top units, districts); a value None (withheld from the
    public) has no bar and reads "—"."""
    top = _scale_max([v for _l, v in points if v is not None])
    label_w, value_w = 220, 90
    inner_w = WIDTH - label_w - value_w
    height = max(len(points), 1) * ROW + 8
    body = []
    for i, (label, value) in enumerate(points):
        y = 4 + i * ROW
        w = 0 if value is None else inner_w * max(value, 0) / top
        text = WITHHELD if value is None else fmt(value)
        short = label if len(label) <= 18 else label[:17] + "…"
        body.append(f'<g><title>{escape(label)}: {escape(text)}</title>'
                    f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end" font-size="12">{escape(short)}</text>'
                    f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{ROW - 8}" fill="{BAR}"/>'
                    f'<text x="{label_w + w + 4:.1f}" y="{y + 16}" font-size="11" fill="#52606d">'
                    f'{escape(text)}</text></g>')
    if not points:
        body.append('<text x="8" y="20" font-size="12" fill="#52606d">—</text>')
    return _frame(title, desc, WIDTH, height, body)
