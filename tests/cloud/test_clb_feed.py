"""
Tests for otter2.cloud.clb_feed: when a node began draining, read from its
Atom feed.
"""

from twisted.trial.unittest import SynchronousTestCase

from otter2.cloud.clb_feed import FeedPage, parse_node_feed


def feed(*entries: tuple[str, str], next_href: str = "") -> str:
    link = f'<link rel="next" href="{next_href}"/>' if next_href else ""
    items = "".join(f"<entry><summary>{summary}</summary><updated>{updated}</updated></entry>"
                    for summary, updated in entries)
    return f'<feed xmlns="http://www.w3.org/2005/Atom">{link}{items}</feed>'


UPDATED_DRAINING = ("Node successfully updated with address: '10.0.0.1', port: '80', "
                    "weight: '1', condition: 'DRAINING'")
CREATED_DRAINING = ("Node successfully created with address: '10.0.0.1', port: '80', "
                    "condition: 'DRAINING', weight: '1'")


class NodeFeedTests(SynchronousTestCase):
    """When a node began draining, from its Atom feed."""

    def test_first_matching_entry(self) -> None:
        """The first entry saying the node became DRAINING gives the time."""
        page = parse_node_feed(feed(
            ("Node successfully updated with address: '10.0.0.1', port: '80', weight: '1', "
             "condition: 'ENABLED'", "2015-01-01T00:00:30Z"),
            (UPDATED_DRAINING, "2015-01-01T00:00:20Z"),
            (CREATED_DRAINING, "2015-01-01T00:00:10Z")))
        self.assertEqual(page, FeedPage(3, 1420070420.0, None))

    def test_created_draining(self) -> None:
        """A node created DRAINING began draining when it was created."""
        self.assertEqual(parse_node_feed(feed((CREATED_DRAINING, "2015-01-01T00:00:10Z")))
                         .drained_at, 1420070410.0)

    def test_no_match(self) -> None:
        """Without a matching entry, the time is unknown; the next link is kept."""
        self.assertEqual(parse_node_feed(feed(("Node created", "2015-01-01T00:00:10Z"),
                                                  next_href="http://clb/x.atom?marker=1")),
                         FeedPage(1, None, "http://clb/x.atom?marker=1"))

    def test_empty(self) -> None:
        """An empty answer is an empty page."""
        self.assertEqual(parse_node_feed(""), FeedPage(0, None, None))
