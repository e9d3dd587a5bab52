"""Benchmarks for faqbot: matching, end to end against the fake Bot API, and footprint (see README.md)."""
