"""
Performers: the only code that touches network, disk or clock.
"""

from otter2.effects.dispatcher import make_dispatcher

__all__ = ["make_dispatcher"]
