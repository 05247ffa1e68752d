"""`python -m orchestration.prepare`: dbt parse into dbt_project/target/manifest.json (no network)."""

from __future__ import annotations

import os

from dagster_dbt import DbtCliResource

from ingest import settings
from orchestration.project import DBT_PROJECT


def main() -> None:
    os.environ.setdefault("LIQUIDITY_DATA_DIR", str(settings.data_dir()))
    dbt = DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=settings.dbt_executable())
    dbt.cli(["parse", "--quiet"], target_path=DBT_PROJECT.target_path, raise_on_error=True).wait()
    print(f"dbt manifest: {DBT_PROJECT.manifest_path}")


if __name__ == "__main__":
    main()
