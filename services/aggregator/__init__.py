"""Aggregator: keeps one record per insats and the count tables, exactly once, in SQL."""
