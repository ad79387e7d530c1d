"""Helpers shared by the market tests (``tests/test_market_*.py``)."""
