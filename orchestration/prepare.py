"""`python -m orchestration.prepare`: dbt parse into dbt_project/target/manifest.json (no network)."""

from __future__ import annotations

from ingest import settings
from orchestration.project import DBT_PROJECT
from orchestration.resources import PipelineDbtResource


def main() -> None:
    # As the run sets them: a different value changes dbt's profile hash and the run's `dbt build`
    # would then re-parse the whole project instead of using this partial parse.
    dbt = PipelineDbtResource(project_dir=DBT_PROJECT, dbt_executable=settings.dbt_executable())
    with settings.exported(settings.dbt_env()):
        dbt.cli(["parse", "--quiet"], target_path=DBT_PROJECT.target_path, raise_on_error=True).wait()
    print(f"dbt manifest: {DBT_PROJECT.manifest_path}")


if __name__ == "__main__":
    main()
