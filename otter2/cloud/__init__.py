"""
The cloud's services as intents: requests, response parsing, error tables.

test-case-name: tests.cloud.test_nova
"""
