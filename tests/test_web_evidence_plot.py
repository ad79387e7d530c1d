"""The server-drawn evidence plot: one bar per number, each unit on its own scale, labels in the
units people read, nothing of the input reaching the SVG unescaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from gridledger.web.evidence_plot import evidence_groups, evidence_svg, format_value, unit_of

SVG = "{http://www.w3.org/2000/svg}"


def bars(svg: str) -> list[float]:
    root = ET.fromstring(svg)
    return [float(r.attrib["width"]) for r in root.iter(f"{SVG}rect")]


@pytest.mark.parametrize(
    ("name", "label", "unit"),
    [
        ("measured_w", "measured", "W"),
        ("residual_wh", "residual", "Wh"),
        ("trend_pct_per_year", "trend", "%/year"),
        ("loss_pct", "loss", "%"),
        ("gap_min", "gap", "min"),
        ("offset_s", "offset", "s"),
        ("ratio", "ratio", ""),
    ],
)
def test_units_come_from_the_names(name: str, label: str, unit: str) -> None:
    assert unit_of(name) == (label, unit)


def test_values_read_as_people_read_them() -> None:
    assert format_value(3210.5, "W") == "3.21 kW"
    assert format_value(12.0, "W") == "12 W"
    assert format_value(1500.0, "Wh") == "1.50 kWh"
    assert format_value(42.5, "%") == "42.5%"
    assert format_value(60.0, "min") == "60 min"
    assert format_value(0.25, "") == "0.25"


def test_outage_bars_compare_measured_with_expected() -> None:
    evidence = {"measured_w": 30.0, "expected_w": 3000.0, "loss_pct": 99.0, "persisted_steps": 2}
    assert [u for u, _ in evidence_groups(evidence)] == ["W", "%"]
    svg = evidence_svg(evidence, "Evidence of the outage")
    widths = bars(svg)
    assert len(widths) == 3  # persisted_steps is book-keeping, not evidence
    measured, expected, loss = widths
    # power bars share one scale, the percentage has its own
    assert expected == pytest.approx(loss) and measured == pytest.approx(expected / 100, abs=0.05)
    text = " ".join(ET.fromstring(svg).itertext())
    assert "measured 30 W" in text and "expected 3.00 kW" in text and "loss 99%" in text
    assert re.search(r"<desc[^>]*>measured 30 W; expected 3.00 kW; loss 99%</desc>", svg)


def test_no_evidence_and_hostile_names_still_make_a_valid_image() -> None:
    empty = evidence_svg({}, "nothing")
    assert bars(empty) == [] and "no numbers recorded" in empty
    odd = evidence_svg({"<script>_w": 1.0}, 'a "title" & <more>')
    root = ET.fromstring(odd)  # well-formed: everything was escaped
    assert "<script>" not in odd and root.find(f"{SVG}title") is not None
