"""Run-failure alert: one line in the sensor log and, with LIQUIDITY_ALERT_WEBHOOK, a JSON POST.

Payload: {"text": <the line>, "job": ..., "run_id": ..., "failed_steps": [...]} (Slack/Teams-style
incoming webhooks read `text`). The webhook URL may carry a token: only its host is ever logged.
A webhook that fails is logged, never raised: alerting must not fail the sensor.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import dagster as dg
import requests

from ingest.errors import redact
from ingest.transport import RedactingFilter

WEBHOOK_ENV = "LIQUIDITY_ALERT_WEBHOOK"
TIMEOUT_SECONDS = 10
MAX_ERROR_CHARS = 300

log = logging.getLogger(__name__)


def first_line(text: str | None) -> str:
    """The first non-empty line of an error message, trimmed, with api_key=... values redacted."""
    for line in (text or "").splitlines():
        if line.strip():
            line = redact(line.strip(), [])
            return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 1] + "…"
    return ""


def alert_text(job: str, run_id: str, failed_steps: list[str], error: str | None) -> str:
    steps = ", ".join(failed_steps) if failed_steps else "(no step failed: run-level failure)"
    line = f"Dagster run FAILED: job={job} run_id={run_id} failed_steps={steps}"
    message = first_line(error)
    return f"{line} error={message}" if message else line


def alert_payload(job: str, run_id: str, failed_steps: list[str], error: str | None) -> dict:
    return {
        "text": alert_text(job, run_id, failed_steps, error),
        "job": job,
        "run_id": run_id,
        "failed_steps": list(failed_steps),
    }


def webhook_host(url: str) -> str:
    return urlsplit(url).hostname or "(no host)"


HTTP_LOGGERS = ("urllib3", "urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry", "requests")


@contextlib.contextmanager
def _scrubbed_http_logs(url: str) -> Iterator[None]:
    """While posting, scrub the webhook's path, query and password from urllib3/requests log records
    (urllib3 logs the request line at DEBUG, and a path like /services/T0/B0/<token> is the secret)."""
    parts = urlsplit(url)
    secrets = [
        url,
        parts.path + ("?" + parts.query if parts.query else ""),
        parts.query,
        parts.password or "",
    ]
    if parts.path not in ("", "/"):
        secrets.append(parts.path)
    flt = RedactingFilter(sorted((s for s in secrets if s), key=len, reverse=True))
    loggers = [logging.getLogger(name) for name in HTTP_LOGGERS]
    for logger in loggers:
        logger.addFilter(flt)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(flt)


def post_alert(url: str, payload: dict, logger: logging.Logger | None = None) -> bool:
    """POST `payload` as JSON; True on a 2xx answer. Errors are logged (host only), not raised."""
    logger = logger or log
    host = webhook_host(url)
    try:
        with _scrubbed_http_logs(url):
            resp = requests.post(url, json=payload, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        logger.error("alert webhook %s unreachable: %s", host, type(exc).__name__)
        return False
    if not 200 <= resp.status_code < 300:
        logger.error("alert webhook %s answered HTTP %s", host, resp.status_code)
        return False
    logger.info("alert sent to webhook %s", host)
    return True


def failure_details(context: dg.RunFailureSensorContext) -> tuple[str, str, list[str], str | None]:
    """(job, run_id, failed step keys, error message) of the failed run."""
    run = context.dagster_run
    step_events = context.get_step_failure_events()
    steps = sorted({e.step_key for e in step_events if e.step_key})
    error = None
    for event in step_events:
        data = event.step_failure_data
        if data is not None and data.error is not None:
            # Dagster wraps user errors ("Error occurred while executing op ..."): report the root cause.
            info = data.error
            while info.cause is not None:
                info = info.cause
            error = info.message
            break
    if error is None:
        error = context.failure_event.message
    return run.job_name, run.run_id, steps, error


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    description=f"One log line per failed run; POSTs it as JSON to ${WEBHOOK_ENV} when set.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def alert_on_run_failure(context: dg.RunFailureSensorContext) -> None:
    job, run_id, steps, error = failure_details(context)
    payload = alert_payload(job, run_id, steps, error)
    context.log.error(payload["text"])
    url = os.environ.get(WEBHOOK_ENV, "").strip()
    if url:
        post_alert(url, payload, context.log)
