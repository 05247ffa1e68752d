"""A dbt-duckdb plugin (profiles.yml, `lake` target): loads the DuckDB extensions the warehouse
needs from their pinned PyPI packages before dbt-duckdb runs the profile's `attach`, so that dbt
never asks DuckDB to download one (the profile also sets `autoinstall_known_extensions: false`)."""

from __future__ import annotations

from dbt.adapters.duckdb.plugins import BasePlugin

from ingest import backend


class Plugin(BasePlugin):
    def configure_connection(self, conn) -> None:
        backend.load_extensions(conn, backend.current().extensions())
