"""
The daemon's long-running services: converger and self-heal. Each only
schedules; the work is an Effect performed with the dispatcher. Beside them,
the daemon's listening ports (`listening`) and its own start and stop
(`daemon`).

test-case-name: tests.service.test_converger
"""
