"""Azure Monitor action-group webhooks -> normalized alerts (pure).

Owns ``parse()``: the dispatch on the payload family, by
``schemaId`` (compared without case or spacing) or, without one, by the body's shape. The
package, one job a module:

- ``common``: the common alert schema's envelope and essentials, assembled into one alert;
- ``contexts``: its ``alertContext``, one mapper per ``monitoringService``;
- ``families``: the readers of the families both schemas carry (metric criteria, log search,
  activity-log events, Smart Detector, budgets);
- ``legacy``: the non-common shapes; ``schemaless``: telling apart bodies without ``schemaId``
  and a log alert's custom JSON payload;
- ``readers``: small shared readers (severity, status, time, ARM ids, labels, links);
  ``draft``: the collected parts -> ``Alert``.

Must not do I/O, read settings or log; the only exception it raises is ``PayloadError`` (422,
with the dotted ``field``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import RootModel, ValidationError

from aggregator.errors import PayloadError
from aggregator.model import Alert, Severity, Source
from aggregator.sources.azure_monitor import legacy, schemaless
from aggregator.sources.azure_monitor.common import CommonAlert, from_common
from aggregator.sources.azure_monitor.readers import aware, family_key
from aggregator.sources.spec import Parsed, SourceSpec, TokenPlace
from aggregator.sources.wire import Text, WireModel, payload_error, validate


class _Probe(WireModel):
    schema_id: Text = None


class AzureMonitorWebhook(RootModel[
    CommonAlert | legacy.MetricAlert | legacy.ActivityLogAlert | legacy.AppInsightsLogAlert
    | legacy.BudgetNotification | legacy.LogSearchAlert | legacy.ClassicAlert
    | legacy.AlertsManagementAlert | schemaless.CustomPayload
]):
    """What the endpoint accepts, for the OpenAPI document: the common alert schema
    (recommended: enable it on the webhook action) or one of the older shapes."""


# --- dispatch ---------------------------------------------------------------------------------

_Shape = Callable[[dict[str, Any], datetime], Alert]

_SCHEMAS: dict[str, _Shape] = {
    "azuremonitorcommonalertschema": from_common,
    "azuremonitormetricalert": legacy.from_metric_alert,
    "microsoft.insights/activitylogs": legacy.from_activity_log,
    "microsoft.insights/logalert": legacy.from_log_alert,
    "aipbudgetnotification": legacy.from_budget,
}


def parse(payload: object, *, received_at: datetime,
          default_severity: Severity = Severity.WARNING) -> Parsed:
    """One Azure Monitor webhook body (as ``json.loads`` gave it) -> its alert.

    ``default_severity`` is accepted for the ``Source`` protocol; Azure alerts without a
    severity (budgets, custom payloads) are ``warning`` whatever it says.

    Raises ``PayloadError`` (422, ``field`` = dotted path) for anything that can never be
    accepted; never any other exception.
    """
    if not isinstance(payload, dict):
        kind = "an array" if isinstance(payload, list) else type(payload).__name__
        raise PayloadError(
            f"Azure Monitor payload must be a JSON object, got {kind}. "
            "Point the action group's webhook at this URL and send its body unchanged.",
            field="$",
        )
    del default_severity
    received_at = aware(received_at)
    schema_id = validate(_Probe, payload, at="", shape="Azure Monitor payload").schema_id
    try:
        if schema_id is not None:
            shape = _SCHEMAS.get(family_key(schema_id))
            if shape is None:
                raise PayloadError(
                    f"Unknown Azure Monitor schemaId {schema_id!r}. {legacy.ACCEPTED}",
                    field="schemaId",
                )
            return Parsed([shape(payload, received_at)])
        return Parsed([schemaless.from_schemaless(payload, received_at)])
    except ValidationError as exc:  # only from building the Alert itself
        raise payload_error(exc, at="", shape="Azure Monitor payload") from None


SPEC = SourceSpec(
    source=Source.AZURE_MONITOR,
    parse=parse,
    wire_model=AzureMonitorWebhook,
    path="/webhooks/azure-monitor",
    summary="Receive an Azure Monitor action-group webhook",
    # Action groups cannot set headers: the token rides in the URL; Bearer works too.
    token_places=(TokenPlace.BEARER, TokenPlace.QUERY, TokenPlace.BASIC),
    token_hint="?token=<token> or https://user:<token>@host/... in the webhook URL",  # noqa: S106
)
