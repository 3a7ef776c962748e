"""
Tests for otter2.bench.run (``python -m otter2.bench``): a quick run prints one
table with every figure of every benchmark and writes them all as JSON. The
figures' values are never checked: only that each is there, measured or
skipped with a reason.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections import Counter
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from otter2.bench.run import QUICK, main

_run: dict[str, Any] = {}


def quick_run() -> dict[str, Any]:
    """The output and the JSON of one quick run, made once for all these tests."""
    if not _run:
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "bench.json")
            out, progress = io.StringIO(), io.StringIO()
            code = main(["--quick", "--json", path, "--no-install"], out, progress)
            with open(path) as f:
                _run.update(code=code, table=out.getvalue(), progress=progress.getvalue(),
                            document=json.load(f), path=path)
    return _run


class OnlyTests(SynchronousTestCase):
    """``--only NAME`` runs the benchmarks named and no other."""

    def test_only_planning(self) -> None:
        """A run of the planning benchmark alone has its figures only, and says so."""
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "bench.json")
            out, progress = io.StringIO(), io.StringIO()
            code = main(["--quick", "--json", path, "--only", "planning"], out, progress)
            with open(path) as f:
                document = json.load(f)
        self.assertEqual((code, progress.getvalue()), (0, "otter2 bench: planning...\n"))
        self.assertEqual({f["section"] for f in document["figures"]}, {"planning"})
        self.assertEqual(document["settings"]["only"], ["planning"])
        self.assertEqual(set(document["settings"]["seconds"]), {"planning", "total"})


class QuickRunTests(SynchronousTestCase):
    """What a quick run of every benchmark gives."""

    timeout = 300

    def test_exit_code_and_progress(self) -> None:
        """The run ends with 0 whatever the figures, naming each benchmark as it starts."""
        run = quick_run()
        self.assertEqual(run["code"], 0)
        self.assertEqual([line.split()[-1] for line in run["progress"].splitlines()],
                         ["planning...", "convergence...", "reaction...", "api...",
                          "memory..."])

    def test_every_figure_in_json(self) -> None:
        """The JSON has the settings and each benchmark's figures, each measured or
        skipped with a reason, each with a verdict."""
        document = quick_run()["document"]
        self.assertEqual(document["settings"]["mode"], "quick")
        self.assertEqual(document["settings"]["runs"], QUICK.runs)
        self.assertEqual(set(document["settings"]["seconds"]),
                         {"planning", "convergence", "reaction", "api", "memory", "total"})
        figures = document["figures"]
        self.assertEqual(Counter(f["section"] for f in figures),
                         {"planning": 8, "convergence": 5, "api": 17, "memory": 3})
        for figure in figures:
            self.assertEqual(set(figure) - {"skipped"}, {
                "section", "name", "value", "unit", "target", "verdict", "raw"})
            if figure["verdict"] == "skipped":
                self.assertIsNone(figure["value"])
                self.assertTrue(figure["skipped"])
            else:
                self.assertIsInstance(figure["value"], float)
                self.assertEqual(figure["verdict"] in ("met", "missed"), bool(figure["target"]))
        self.assertEqual(len({(f["section"], f["name"]) for f in figures}), len(figures))

    def test_targets(self) -> None:
        """The targets the issue sets are each beside their figure."""
        targets = {(f["section"], f["name"]): f["target"]
                   for f in quick_run()["document"]["figures"]}
        self.assertEqual(targets[("convergence", "steady state, one tenant / one group per "
                                                 "tenant")], ">= 0.5")
        self.assertEqual(targets[("api", "GET group state: rate / bare GET")], ">= 0.70")
        self.assertEqual(targets[("api", "POST capability URL: rate / bare POST")], ">= 0.50")
        self.assertEqual(targets[("api", "POST policy execute (authenticated route): "
                                         "p99 / bare p99")], "<= 3")
        self.assertEqual(targets[("api", "GET group list (3 groups): errors and "
                                         "non-2xx/3xx")], "= 0")
        self.assertEqual(targets[("memory", "resident size with 5 groups")], "< 300 MB")

    def test_one_table(self) -> None:
        """The table has a row per figure, in the JSON's order, and ends by saying
        where the JSON went."""
        run = quick_run()
        lines = run["table"].splitlines()
        figures = run["document"]["figures"]
        rows = lines[2:2 + len(figures)]
        for figure, row in zip(figures, rows, strict=True):
            self.assertTrue(row.startswith(f"{figure['section']}: {figure['name']}"))
            self.assertIn(f" {figure['verdict']} ", row)
        self.assertRegex(lines[-2], r"^\d+ met, \d+ missed, \d+ skipped, \d+ reported")
        self.assertEqual(lines[-1], f"figures written to {run['path']}")

