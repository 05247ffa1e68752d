"""Plain-Python ingestion: HTTP transport (live | replay), parsers, series catalog, raw DuckDB layer.

Nothing in this package imports Dagster; a notebook or a test can call it directly.
"""
