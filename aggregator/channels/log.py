"""The ``log`` channel: notifications written to the service log (the embedded default)."""

from __future__ import annotations

import logging

from aggregator.notice import Notice

log = logging.getLogger("aggregator.notifications")


class LogChannel:
    groups = False
    max_send_seconds = 1.0

    def __init__(self, name: str) -> None:
        self.name = name

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
