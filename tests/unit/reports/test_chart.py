"""The server-rendered SVG chart: well-formed, accessible, escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from orchestrator.reports.chart import Bar, bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg) -> ET.Element:
    return ET.fromstring(str(svg))  # noqa: S314 - our own output, not untrusted input


def chart(bars, **kw):
    kw.setdefault("chart_id", "c1")
    kw.setdefault("title", "Attendance over the cycle")
    kw.setdefault("description", "Mean attendance rate per month; the table below has the figures.")
    return bar_chart(
        bars=bars, max_value=1.0, ticks=[0.5, 1.0], tick_label=lambda v: f"{v * 100:.0f} %", **kw
    )


def test_svg_is_well_formed_and_labelled():
    svg = chart([Bar("Sep 2026", 0.75, "75 %"), Bar("Oct 2026", None, "–"), Bar("Nov 2026", 1.0, "100 %")])
    root = parse(svg)
    assert root.tag == SVG + "svg"
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c1-title"
    assert root.get("aria-describedby") == "c1-desc"
    assert root.find(SVG + "title").text == "Attendance over the cycle"
    assert root.find(SVG + "desc").get("id") == "c1-desc"
    rects = root.findall(SVG + "rect")
    assert len(rects) == 2  # no bar for a month without a value
    assert [r.find(SVG + "title").text for r in rects] == ["Sep 2026: 75 %", "Nov 2026: 100 %"]
    # The 75 % bar is three quarters as high as the 100 % bar.
    heights = [float(r.get("height")) for r in rects]
    assert abs(heights[0] / heights[1] - 0.75) < 0.01


def test_text_is_escaped():
    svg = chart([Bar("<script>", 0.5, "50 %")], title='A & B "quoted"', chart_id='x"y')
    root = parse(svg)
    assert root.find(SVG + "title").text == 'A & B "quoted"'
    assert "<script>" not in str(svg)


def test_long_series_labels_do_not_crowd():
    bars = [Bar(f"{i:02d}.", 0.5, "50 %") for i in range(1, 37)]
    root = parse(chart(bars))
    labels = [t.text for t in root.findall(SVG + "text") if t.text and t.text.endswith(".")]
    assert 8 <= len(labels) < 36
    assert labels[0] == "01."


def test_values_above_the_maximum_are_clipped():
    root = parse(chart([Bar("a", 3.0, "300 %")]))
    (rect,) = root.findall(SVG + "rect")
    assert float(rect.get("y")) >= 0
