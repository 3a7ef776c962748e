"""
Tests for otter2.bench.report: a figure's verdict, the one table and the JSON
document of a run.
"""

from __future__ import annotations

import json
import os

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from otter2.bench.planning import growth_exponent
from otter2.bench.report import (
    Figure,
    bench_document,
    median,
    render_table,
    skipped_figure,
    sort_baseline_ms,
    write_json,
)

FIGURES = [
    Figure("planning", "steady, 10000 servers", 12.5, "ms", "< 80 ms", True,
           {"runs": [12.0, 12.5, 13.0], "sort ms": 1.5}),
    Figure("api", "GET group state: rate / bare GET", 0.42, "x", ">= 0.70", False),
    Figure("memory", "start-up with 10000 groups", 1.9, "s"),
    skipped_figure("api", "POST capability URL: p99 / bare p99", "x", "<= 3",
                   "wrk is not installed"),
]


class FigureTests(SynchronousTestCase):
    """What a figure says of itself."""

    def test_verdicts(self) -> None:
        """Met, missed, reported without a target, and skipped with its reason."""
        self.assertEqual([f.verdict for f in FIGURES], ["met", "missed", "-", "skipped"])

    def test_document(self) -> None:
        """The JSON object keeps the value, target, verdict and raw numbers."""
        document = FIGURES[0].document()
        self.assertEqual(document, {
            "section": "planning", "name": "steady, 10000 servers", "value": 12.5,
            "unit": "ms", "target": "< 80 ms", "verdict": "met",
            "raw": {"runs": [12.0, 12.5, 13.0], "sort ms": 1.5}})
        self.assertEqual(FIGURES[3].document()["skipped"], "wrk is not installed")


class TableTests(SynchronousTestCase):
    """The one table of a run."""

    def test_every_figure_has_a_row(self) -> None:
        """A header, a rule, a row per figure with its value, target and verdict, a tally."""
        header, rule, *rows, tally = render_table(FIGURES).splitlines()
        self.assertEqual(header.split()[:4], ["figure", "value", "target", "verdict"])
        self.assertEqual(set(rule.replace(" ", "")), {"-"})
        self.assertEqual(len(rows), len(FIGURES))
        for figure, row in zip(FIGURES, rows, strict=True):
            self.assertIn(f"{figure.section}: {figure.name}", row)
            self.assertIn(figure.verdict, row.split())
        self.assertIn("12.5 ms", rows[0])
        self.assertIn("sort ms=1.5", rows[0])
        self.assertIn("n/a", rows[3])
        self.assertIn("wrk is not installed", rows[3])
        self.assertEqual(tally, "1 met, 1 missed, 1 skipped, 1 reported without a target")

    def test_json_file(self) -> None:
        """The file holds the settings and every figure's document."""
        path = os.path.abspath(self.mktemp())
        write_json(path, FIGURES, {"mode": "quick"})
        with open(path) as f:
            self.assertEqual(json.load(f), bench_document(FIGURES, {"mode": "quick"}))
        self.assertEqual(len(bench_document(FIGURES, {})["figures"]), len(FIGURES))


class NumbersTests(SynchronousTestCase):
    """The arithmetic of the figures."""

    def test_median(self) -> None:
        """The middle value, or the mean of the two middle ones."""
        self.assertEqual(median([3.0, 1.0, 2.0]), 2.0)
        self.assertEqual(median([4.0, 1.0, 2.0, 3.0]), 2.5)

    def test_sort_baseline(self) -> None:
        """One timing per run, none negative."""
        timings = sort_baseline_ms(50, 3)
        self.assertEqual(len(timings), 3)
        self.assertTrue(all(t >= 0 for t in timings))

    @given(small=st.floats(1e-3, 1e3), exponent=st.floats(0.0, 3.0),
           factor=st.floats(2.0, 100.0))
    def test_growth_exponent(self, small: float, exponent: float, factor: float) -> None:
        """Times growing as n^k over a factor give back k."""
        self.assertAlmostEqual(growth_exponent(small, small * factor ** exponent, factor),
                               exponent, places=6)

    def test_growth_exponent_of_nothing(self) -> None:
        """A time of zero (too fast to measure) gives 0 rather than an error."""
        self.assertEqual(growth_exponent(0.0, 1.0), 0.0)
