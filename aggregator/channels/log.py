"""The ``log`` channel: notifications written to the service log (the embedded default).

Owns its (empty) settings, :class:`LogConfig`. It has no remote, so no status reaches it;
its table retries whatever would (nothing does).
"""

from __future__ import annotations

import logging
from typing import Final, Literal

from aggregator.channels.base import ChannelConfig
from aggregator.channels.status import StatusRule, StatusTable
from aggregator.notice import Notice

log = logging.getLogger("aggregator.notifications")


class LogConfig(ChannelConfig):
    """Write notifications to the service log (the embedded default)."""

    type: Literal["log"]

    def max_send_seconds(self) -> float:
        return 1.0


STATUSES: Final = StatusTable(rules=(), default=StatusRule((), retry=True))


class LogChannel:
    Config = LogConfig
    groups = False
    acknowledges = False
    statuses = STATUSES

    def __init__(self, name: str, config: LogConfig | None = None) -> None:
        self.name = name
        config = config if config is not None else LogConfig(type="log")
        self.max_send_seconds = config.max_send_seconds()

    async def send(self, notice: Notice) -> None:
        for alert in notice.alerts:
            log.info(
                "notify %s %s (%s): %s [%s] %s", notice.channel, notice.action.value,
                notice.reason.value, alert.name, alert.severity.value,
                alert.summary or alert.description,
                extra={"fingerprint": alert.fingerprint, "alert_id": str(alert.id),
                       "channel": notice.channel},
            )

    async def aclose(self) -> None:
        return None
