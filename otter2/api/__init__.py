"""
The REST API: Klein routes, thin over ``control/`` and the store intents.
"""
