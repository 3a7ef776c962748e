"""
The REST API: Klein routes, thin over ``control/`` and the store intents.

test-case-name: tests.api.test_groups
"""
