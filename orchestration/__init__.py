"""Dagster wiring: assets, checks, schedules and resources over `ingest/` and `dbt_project/`."""
