"""A dbt-duckdb plugin (profiles.yml, `lake` target): before dbt-duckdb runs the profile's `attach`,
prepares the connection as every other lake connection is (`ingest.backend.Backend.configure`): the
DuckDB extensions from their pinned PyPI packages, so that dbt never asks DuckDB to download one
(the profile also sets `autoinstall_known_extensions: false`), and for an `s3://` data path the S3
secret from the AWS variables."""

from __future__ import annotations

from dbt.adapters.duckdb.plugins import BasePlugin

from ingest import backend


class Plugin(BasePlugin):
    def configure_connection(self, conn) -> None:
        backend.current().configure(conn)
