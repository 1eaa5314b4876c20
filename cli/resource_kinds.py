"""The job kinds the API serves, where each lives, and finding a job by its id alone."""

from typing import Any

from cli.api_client import ApiClient, Refused
from cli.request_schema import job_statuses

COLLECTIONS = {"backtest": "backtests", "optimization": "optimizations", "backfill": "backfills"}
# From the API's OpenAPI document (cli/request_schema.json), not a copy.
JOB_STATUSES, TERMINAL_STATUSES = job_statuses()


def path_of(kind: str, job_id: str) -> str:
    return f"/{COLLECTIONS[kind]}/{job_id}"


def locate(api: ApiClient, job_id: str) -> tuple[str, dict[str, Any]]:
    """(kind, resource) of the job with this id, whichever kind it is."""
    for kind in COLLECTIONS:
        try:
            return kind, api.get(path_of(kind, job_id))
        except Refused as exc:
            # 422: the id is malformed; 404: not of this kind.
            if exc.status not in (404, 422):
                raise
    raise Refused(
        404, "not_found", f"no backtest, optimization or backfill has the id {job_id}", []
    )
