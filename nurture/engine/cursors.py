"""Moved to :mod:`nurture.store.cursors` (named feed positions are storage, and leads' erasure
needs them below the engine); kept while branches written against the old name are merged."""

from nurture.store.cursors import NEW_LEADS, move_cursor, open_feed, read_cursor

__all__ = ["NEW_LEADS", "move_cursor", "open_feed", "read_cursor"]
