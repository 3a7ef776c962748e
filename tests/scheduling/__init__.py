"""Tests of otter2.scheduling."""
