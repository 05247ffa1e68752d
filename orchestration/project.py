"""The dbt project as Dagster sees it (no parsing here; see orchestration/prepare.py)."""

from __future__ import annotations

from dagster_dbt import DbtProject

from ingest import settings

DBT_PROJECT = DbtProject(project_dir=settings.DBT_PROJECT_DIR, profiles_dir=settings.DBT_PROJECT_DIR)
