"""Charts drawn on the server as inline SVG: no script, no CDN, nothing the admin's CSP refuses.

Shapes carry classes only (their colours are in console/static/console/dashboard.css), never a
`style` attribute, and every bar has a `<title>` so its value shows on hover and to screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH = 600
HEIGHT = 160
# Room under the bars for the first and last labels, and above them for the maximum.
BOTTOM = 18
TOP = 14


def bar_chart(
    points: Sequence[tuple[str, int]], *, title: str, chart_id: str, unit: str = ""
) -> SafeString:
    """A bar per point (`label`, `value`), left to right, scaled to the largest value.

    The SVG scales to its container (viewBox); `chart_id` is its HTML id and `title` its
    accessible name. Each bar's `<title>` reads "<label>: <value> <unit>".
    """
    peak = max((value for _, value in points), default=0)
    plot_height = HEIGHT - TOP - BOTTOM
    slot = WIDTH / max(len(points), 1)
    gap = min(2.0, slot / 4)
    bars = []
    for index, (label, value) in enumerate(points):
        height = round(plot_height * value / peak, 1) if peak else 0.0
        bars.append(
            (
                round(index * slot + gap / 2, 1),
                round(TOP + plot_height - height, 1),
                round(slot - gap, 1),
                height,
                label,
                f"{value} {unit}".strip(),
                value,
            )
        )
    body = format_html_join(
        "",
        '<rect class="chart-bar" x="{}" y="{}" width="{}" height="{}" data-label="{}" '
        'data-value="{}"><title>{}: {}</title></rect>',
        (
            (x, y, width, height, label, value, label, text)
            for x, y, width, height, label, text, value in bars
        ),
    )
    first = points[0][0] if points else ""
    last = points[-1][0] if points else ""
    return format_html(
        '<svg id="{}" class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'xmlns="http://www.w3.org/2000/svg">'
        '<line class="chart-axis" x1="0" y1="{}" x2="{}" y2="{}"></line>{}'
        '<text class="chart-label" x="0" y="{}">{}</text>'
        '<text class="chart-label chart-label-end" x="{}" y="{}">{}</text>'
        '<text class="chart-label" x="0" y="10">max {}</text>'
        "</svg>",
        chart_id,
        WIDTH,
        HEIGHT,
        title,
        HEIGHT - BOTTOM,
        WIDTH,
        HEIGHT - BOTTOM,
        body,
        HEIGHT - 4,
        first,
        WIDTH,
        HEIGHT - 4,
        last,
        peak,
    )
