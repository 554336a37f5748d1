"""The daemon's watchdog: doctor on a timer, its verdicts as Prometheus metrics and webhook alerts."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from growthloop.adapters.store.store import SqlStore
from growthloop.audit.alerts import AlertNotifier
from growthloop.audit.doctor import Check, run_doctor
from growthloop.audit.metrics import LoopMetrics
from growthloop.config import Settings

log = structlog.get_logger("growthloop.watch")


class Watchdog:
    def __init__(self, store: SqlStore, settings: Settings, metrics: LoopMetrics | None = None) -> None:
        self.store, self.settings, self.metrics = store, settings, metrics
        self.notifier = AlertNotifier(store, settings.account, settings.alerts.webhook_url)
        self.every = timedelta(seconds=settings.alerts.check_every)
        self._last: datetime | None = None

    def maybe_check(self, now: datetime) -> list[Check] | None:
        """Run doctor if it is due; never lets a fault of its own stop the loop, but logs it as an error."""
        if self._last is not None and now - self._last < self.every:
            return None
        self._last = now
        try:
            checks = run_doctor(self.store, self.settings, self.settings.account, now)
            if self.metrics is not None:
                self.metrics.update(self.store, self.settings.account, checks)
            sent = self.notifier.notify(checks, now)
        except Exception as exc:  # the watchdog reports its own failure loudly and tries again next time
            log.error("watchdog.failed", account=self.settings.account, error=f"{type(exc).__name__}: {exc}")
            return None
        failing = [c.name for c in checks if c.state == "fail"]
        log.info("doctor.checked", account=self.settings.account, failing=failing, alerts_sent=len(sent))
        return checks
