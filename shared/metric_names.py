"""The API's model of a run's metrics, built from the domain's one list of them
(domain/metrics/names.py)."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from domain.metrics.names import METRIC_KEYS, METRICS


class _MetricsBase(BaseModel):
    # Allowing more keys keeps an answer valid when the engine reports a new metric.
    model_config = ConfigDict(extra="allow", json_schema_serialization_defaults_required=True)


_FIELDS: dict[str, Any] = {
    key: (int | None if kind == "int" else float | None, Field(None, description=meaning))
    for key, (kind, meaning) in METRICS.items()
}
Metrics = create_model(
    "Metrics",
    __base__=_MetricsBase,
    __doc__="A run's metrics as the API answers them: each a number, or null where undefined.",
    **_FIELDS,
)
MetricKey = Literal[METRIC_KEYS]  # type: ignore[valid-type]
