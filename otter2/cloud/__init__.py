"""
The cloud's services as intents: requests, response parsing, error tables.
"""
