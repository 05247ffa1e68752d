"""`python -m orchestration.prepare`: dbt parse into dbt_project/target/manifest.json (no network)."""

from __future__ import annotations

import os

from dagster_dbt import DbtProject

from ingest import settings


def main() -> None:
    os.environ.setdefault("LIQUIDITY_DATA_DIR", str(settings.data_dir()))
    project = DbtProject(project_dir=settings.DBT_PROJECT_DIR, profiles_dir=settings.DBT_PROJECT_DIR)
    project.preparer.prepare(project)
    print(f"dbt manifest: {project.manifest_path}")


if __name__ == "__main__":
    main()
