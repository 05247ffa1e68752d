"""`make run` with one of the project's private-API pieces swapped for stock Dagster, so `make bench`
can measure what each piece is worth (bench/run.py section `private`).

    python -m bench.stock dbt-resource run      # dagster-dbt's DbtCliResource, not PipelineDbtResource
    python -m bench.stock none run              # the pipeline as it ships (same entry point)

The event-log piece (orchestration/event_storage.py) is chosen by the instance's dagster.yaml, not by
code: `stock_instance_yaml()` is the shipped dagster.yaml without its `event_log_storage` block, which
bench/run.py writes into a fresh DAGSTER_HOME (Dagster's default SQLite event log).
"""

from __future__ import annotations

import sys
from pathlib import Path

PIECES = ("none", "dbt-resource")
INSTANCE_YAML = Path(__file__).resolve().parents[1] / "orchestration" / "dagster.yaml"


def stock_instance_yaml() -> str:
    """orchestration/dagster.yaml minus the `event_log_storage:` block (its key and indented lines)."""
    out, skipping = [], False
    for line in INSTANCE_YAML.read_text().splitlines():
        if line.startswith("event_log_storage:"):
            skipping = True
            continue
        if skipping and (line.startswith((" ", "\t")) or not line.strip()):
            continue
        skipping = False
        out.append(line)
    text = "\n".join(out) + "\n"
    if "orchestration.event_storage" in text:
        raise RuntimeError("stock_instance_yaml: the event_log_storage block was not removed")
    return text


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in PIECES:
        raise SystemExit(f"usage: python -m bench.stock {{{','.join(PIECES)}}} <orchestration.cli args>")
    if argv[0] == "dbt-resource":
        import dagster_dbt

        import orchestration.resources

        # before orchestration.definitions is imported, which builds the dbt resource from this name
        orchestration.resources.PipelineDbtResource = dagster_dbt.DbtCliResource
    from orchestration import cli

    return cli.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
