"""
The figures a benchmark run measures, the one table that shows each beside
its target, and the JSON document (``bench.json``) that keeps them all.

A `Figure` is one number with its unit, the target as a person reads it,
whether the number meets it (None when the figure has no target, or could not
be measured), and the raw numbers it came from (the runs and the baseline it
is a ratio to). Each benchmark module returns a list of them; nothing here
measures anything but the machine baseline every speed figure can be told
apart from: how long sorting a list of tuples takes.

test-case-name: tests.bench.test_report
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from attrs import field, frozen
from pyrsistent import PMap, PVector, freeze, pmap, thaw

MET, MISSED, REPORTED, SKIPPED = "met", "missed", "-", "skipped"


def _frozen(raw: Mapping[str, Any]) -> PMap:
    frozen_raw: PMap = freeze(dict(raw))
    return frozen_raw


@frozen
class Figure:
    """One measured figure of a benchmark run; see the module docstring."""

    section: str  # planning, api, convergence, memory
    name: str
    value: float | None  # None: not measured (``skipped`` says why)
    unit: str
    target: str = ""  # "" when the figure is reported only
    met: bool | None = None
    raw: PMap = field(factory=pmap, converter=_frozen)
    skipped: str = ""

    @property
    def verdict(self) -> str:
        """``met``, ``missed``, ``skipped``, or ``-`` for a figure without a target."""
        if self.skipped:
            return SKIPPED
        if self.met is None:
            return REPORTED
        return MET if self.met else MISSED

    def document(self) -> dict[str, Any]:
        """The figure as a JSON object."""
        return {"section": self.section, "name": self.name, "value": self.value,
                "unit": self.unit, "target": self.target, "verdict": self.verdict,
                "raw": thaw(self.raw), **({"skipped": self.skipped} if self.skipped else {})}


def skipped_figure(section: str, name: str, unit: str, target: str, reason: str) -> Figure:
    """A figure that could not be measured in this run, saying why."""
    return Figure(section, name, None, unit, target, None, skipped=reason)


def median(values: Iterable[float]) -> float:
    """The median of the runs' values."""
    return float(statistics.median(list(values)))


def runs_of(runs: int, work: Callable[[], float]) -> list[float]:
    """The values of ``runs`` calls of ``work``."""
    return [work() for _ in range(max(1, runs))]


def timed_ms(work: Callable[[], object]) -> float:
    """How long one call of ``work`` takes, in milliseconds of wall time."""
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000


def sort_baseline_ms(size: int, runs: int, seed: int = 12) -> list[float]:
    """
    Milliseconds to sort ``size`` tuples of a string and a float, once per
    run: what this machine does with pure Python at the moment, so that a slow
    machine can be told from slow code.
    """
    generator = random.Random(seed)
    items = [(f"s{generator.randrange(size * 10)}", generator.random()) for _ in range(size)]
    return runs_of(runs, lambda: timed_ms(lambda: sorted(items)))


def _value(figure: Figure) -> str:
    if figure.value is None:
        return "n/a"
    magnitude = abs(figure.value)
    text = (f"{figure.value:.0f}" if magnitude >= 100 else
            f"{figure.value:.1f}" if magnitude >= 10 else f"{figure.value:.2f}")
    return f"{text} {figure.unit}".rstrip()


def _raw(figure: Figure) -> str:
    if figure.skipped:
        return figure.skipped
    parts = []
    for key, value in figure.raw.items():
        if key == "runs":
            continue
        parts.append(f"{key}={_number(value)}")
    return ", ".join(parts)


def _number(value: Any) -> str:
    if isinstance(value, (list, tuple, PVector)):
        return "[" + " ".join(_number(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def render_table(figures: Sequence[Figure]) -> str:
    """The one table of a run: each figure, its value, its target, met or missed, and
    the raw numbers behind it, grouped by section."""
    headers = ("figure", "value", "target", "verdict", "raw")
    rows = [(f"{f.section}: {f.name}", _value(f), f.target or "(reported)", f.verdict, _raw(f))
            for f in figures]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers[:-1])]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)) + "  raw",
             "  ".join("-" * w for w in widths) + "  ---"]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False))
                     + "  " + row[-1])
    met = sum(f.verdict == MET for f in figures)
    missed = sum(f.verdict == MISSED for f in figures)
    skipped = sum(f.verdict == SKIPPED for f in figures)
    lines.append(f"{met} met, {missed} missed, {skipped} skipped, "
                 f"{len(figures) - met - missed - skipped} reported without a target")
    return "\n".join(lines)


def bench_document(figures: Sequence[Figure], settings: dict[str, Any]) -> dict[str, Any]:
    """The JSON document of a run: how it was run and every figure."""
    return {"settings": settings, "figures": [f.document() for f in figures]}


def write_json(path: str, figures: Sequence[Figure], settings: dict[str, Any]) -> None:
    """Write the run's document to ``path``."""
    with open(path, "w") as f:
        json.dump(bench_document(figures, settings), f, indent=2, sort_keys=True)
        f.write("\n")
