"""
A whole benchmark run: the sizes and run counts of the full and the quick
mode, each benchmark in turn, the table printed and the JSON written.

Full mode is what ``make bench`` runs (under ten minutes on two cores);
quick mode (``--quick``) runs tiny sizes once each, for the tests.

test-case-name: tests.bench.test_main
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from attrs import asdict, frozen

from otter2.bench import api, convergence, memory, planning, reaction
from otter2.bench.report import Figure, render_table, write_json


@frozen
class Sizes:
    """How big and how many times each benchmark runs."""

    runs: int
    planning_sizes: tuple[int, ...]
    groups: int
    servers: int
    steady_budget: float  # wall seconds per steady-state run
    wrk_seconds: float
    listed_groups: int
    memory_groups: int


FULL = Sizes(runs=3, planning_sizes=planning.SIZES, groups=1000, servers=10, steady_budget=5.0,
             wrk_seconds=5.0, listed_groups=100, memory_groups=memory.GROUPS)
QUICK = Sizes(runs=1, planning_sizes=(10, 20), groups=3, servers=2, steady_budget=0.0,
              wrk_seconds=1.0, listed_groups=3, memory_groups=5)


def benchmarks(sizes: Sizes, install: bool) -> list[tuple[str, Callable[[], list[Figure]]]]:
    """Each benchmark by name, ready to run at ``sizes``."""
    return [
        ("planning", lambda: planning.figures(sizes.runs, sizes.planning_sizes)),
        ("convergence", lambda: convergence.figures(sizes.runs, sizes.groups, sizes.servers,
                                                    sizes.steady_budget)),
        ("reaction", lambda: reaction.figures(sizes.runs)),
        ("api", lambda: api.figures(sizes.runs, sizes.wrk_seconds, sizes.listed_groups,
                                    install)),
        ("memory", lambda: memory.figures(sizes.runs, sizes.memory_groups)),
    ]


def run(sizes: Sizes, install: bool, progress: TextIO,
        only: Sequence[str] = ()) -> tuple[list[Figure], dict[str, Any]]:
    """Every figure (of the benchmarks named in ``only``, when it names any), and how
    long each benchmark took in wall seconds."""
    figures: list[Figure] = []
    took: dict[str, Any] = {}
    for name, work in benchmarks(sizes, install):
        if only and name not in only:
            continue
        progress.write(f"otter2 bench: {name}...\n")
        progress.flush()
        started = time.perf_counter()
        figures += work()
        took[name] = round(time.perf_counter() - started, 1)
    return figures, took


def main(argv: Sequence[str], out: TextIO = sys.stdout, progress: TextIO = sys.stderr) -> int:
    """Run the benchmarks, print the table, write the JSON; 0 whatever the figures."""
    parser = argparse.ArgumentParser(prog="python -m otter2.bench")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run each")
    parser.add_argument("--json", default="bench.json", help="where to write the figures")
    parser.add_argument("--no-install", action="store_true",
                        help="do not install wrk when it is missing")
    parser.add_argument("--only", action="append", default=[], metavar="BENCHMARK",
                        choices=[name for name, _ in benchmarks(QUICK, False)],
                        help="run only this benchmark (may be given more than once)")
    options = parser.parse_args(list(argv))
    sizes = QUICK if options.quick else FULL
    started = time.perf_counter()
    figures, took = run(sizes, not options.no_install, progress, options.only)
    settings = {"mode": "quick" if options.quick else "full", **asdict(sizes),
                "only": options.only,
                "seconds": {**took, "total": round(time.perf_counter() - started, 1)},
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform()}}
    out.write(render_table(figures) + "\n")
    write_json(options.json, figures, settings)
    out.write(f"figures written to {options.json}\n")
    return 0
