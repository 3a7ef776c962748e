"""
Tests of otter2's values.
"""
