"""
The Atom feed of a Cloud Load Balancer node, read for when the node began
draining (spec convergence §1.5): the feed lists the node's events newest
first, a page at a time.

test-case-name: tests.cloud.test_clb_feed
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

from attrs import frozen

from otter2.cloud.nova import epoch

_DRAINING_EVENT = re.compile(
    r"Node successfully updated with address: '[^']*', port: '\d+', weight: '\d+', "
    r"condition: 'DRAINING'"
    r"|Node successfully created with address: '[^']*', port: '\d+', "
    r"condition: 'DRAINING', weight: '\d+'")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@frozen
class FeedPage:
    """One page of a node's Atom feed: its entry count, when draining began, the next link."""

    entries: int
    drained_at: float | None
    next_href: str | None


def parse_node_feed(text: str) -> FeedPage:
    """
    When the first entry of a feed page saying the node became DRAINING was
    written (the feed lists the newest first), and the page's next link.
    """
    if not text.strip():
        return FeedPage(0, None, None)
    feed = ElementTree.fromstring(text)
    entries = [child for child in feed if _local(child.tag) == "entry"]
    drained_at = None
    for entry in entries:
        fields = {_local(child.tag): (child.text or "") for child in entry}
        if _DRAINING_EVENT.search(fields.get("summary", "")):
            drained_at = epoch(fields["updated"])
            break
    next_href = next((child.get("href") for child in feed
                      if _local(child.tag) == "link" and child.get("rel") == "next"), None)
    return FeedPage(len(entries), drained_at, next_href)
