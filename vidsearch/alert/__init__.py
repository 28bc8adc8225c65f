"""Watchlists: standing queries that alert on new footage (docs/watchlists.md)."""
