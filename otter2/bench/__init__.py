"""
Benchmarks: measured figures, printed, never asserted by tests.

test-case-name: tests.bench.test_main
"""
