"""
The daemon's long-running services: converger and self-heal. Each only
schedules; the work is an Effect performed with the dispatcher.

test-case-name: tests.service.test_converger
"""
