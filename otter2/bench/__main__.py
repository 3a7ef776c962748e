"""
``python -m otter2.bench [--quick] [--json PATH] [--no-install] [--only NAME]...``: every
benchmark, one table of each figure beside its target, and the figures as
JSON (``bench.json`` unless told). ``make bench`` runs it in full; ``--quick``
runs tiny sizes once each, so the tests can run all of it; ``--only``
runs the named benchmarks alone.

test-case-name: tests.bench.test_main
"""

from __future__ import annotations

import sys

from otter2.bench.run import main
from otter2.service.daemon import tune_garbage_collector

if __name__ == "__main__":
    tune_garbage_collector()  # as the daemon does: measure what it runs
    sys.exit(main(sys.argv[1:]))
