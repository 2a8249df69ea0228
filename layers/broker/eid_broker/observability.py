"""One logger for every function. Secrets and personal data are masked in every log record, whatever
logger wrote it and whichever handler prints it (urllib3's retry warnings reach Lambda's root handler),
and once more in the broker's formatter, which also sees the records' extras."""

from __future__ import annotations

import json
import logging
import re
import traceback
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from eid_broker.config import get_settings

# Every name a secret travels under: access_token, client_secret, secret (a webhook's signing secret,
# previous_secret), secret_key, hmac_key, api_key, private_key, password/passwd, authorization, otp.
_KEYS = r"token|secret(?:_?key)?|hmac_?key|private_?key|api_?key|passw(?:or)?d|authorization|otp"
# Digits that stand alone: never a run inside an id (a UUID's last group may be all digits).
_ALONE, _END = r"(?<![\w-])", r"(?![\w-])"
_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 ***"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]+"), "whsec_***"),
    # key=value, "key": "value" (also JSON-escaped inside a JSON line), Authorization=<cookie value>.
    (
        re.compile(rf"({_KEYS})(\\?[\"']?\s*[=:]\s*)(\\?[\"'])?(?(3)[^\"'\\]+|[^&\s\"'\\,;}}\])]+)", re.I),
        r"\1\2\3***",
    ),
    (re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*"), "***"),
    # Provider session tokens in URL paths: Dokobit/MarkSign /status/<token>.json, /session/<token>.
    (re.compile(r"(/(?:status|session)/)[^/?#\s\"']+"), r"\1***"),
    (re.compile(rf"(?<![\w+-])\+?\d{{3}}[\d ]{{6,12}}\d{_END}"), "***"),
    # EE/LT personal codes (11 digits), LV DDMMYY-CNNNN.
    (re.compile(rf"{_ALONE}\d{{6}}-?\d{{5}}{_END}"), "***"),
)


def mask(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


class MaskedException(Exception):
    """Stands in for a logged exception: its text and its whole formatted traceback (causes included) are
    masked. The record keeps the original type and traceback, so handlers still name and locate it."""

    def __init__(self, text: str, formatted: str = "") -> None:
        super().__init__(text)
        self.formatted = formatted


class _MaskingRecordFactory:
    eid_masking = True

    def __init__(self, inner: Callable[..., logging.LogRecord]) -> None:
        self._inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self._inner(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed call must not raise in the caller
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = mask(message), ()
        if record.exc_info and record.exc_info[1] is not None:
            kind, value, tb = record.exc_info
            formatted = mask("".join(traceback.format_exception(kind, value, tb)).rstrip("\n"))
            record.exc_info = (kind, MaskedException(mask(str(value)), formatted), tb)
            record.exc_text = formatted
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return record


def install_record_masking() -> None:
    """Mask every record at creation, for every logger and handler. Idempotent."""
    current = logging.getLogRecordFactory()
    if not getattr(current, "eid_masking", False):
        logging.setLogRecordFactory(_MaskingRecordFactory(current))


class MaskingFormatter(LambdaPowertoolsFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))

    def formatException(self, ei: Any) -> str:
        if isinstance(ei[1], MaskedException) and ei[1].formatted:
            return ei[1].formatted
        return super().formatException(ei)


install_record_masking()
logger = Logger(service="eid-broker", logger_formatter=MaskingFormatter())
# urllib3 logs full URLs (Dokobit's access_token rides in the query) at DEBUG.
logging.getLogger("urllib3").setLevel(logging.WARNING)


def report_refusal(refusal: Any) -> None:
    """A provider refusal the operator must act on (the broker's credentials or configuration) is an
    ERROR line; other refusals are the person's business and need none."""
    if refusal.code == "PROVIDER_MISCONFIGURED":
        logger.error(
            "provider refused the broker's configuration",
            extra={"provider": refusal.provider, "provider_code": refusal.provider_code},
        )


class Metric(StrEnum):
    """Every metric the broker emits (namespace NAMESPACE; each also without its detail dimensions,
    under `service` alone, which is what the alarms watch)."""

    SESSIONS_STARTED = "SessionsStarted"  # method
    SESSIONS_COMPLETED = "SessionsCompleted"  # method
    SESSIONS_FAILED = "SessionsFailed"  # method; method, code
    SESSIONS_EXPIRED = "SessionsExpired"  # method; method, code
    SESSIONS_CANCELLED = "SessionsCancelled"  # method
    SESSION_SECONDS = "SessionSeconds"  # method: created to final
    SESSIONS_ERASED = "SessionsErased"  # trigger: request or retention
    PROVIDER_LATENCY = "ProviderLatency"  # provider; provider, error_class
    PROVIDER_ERRORS = "ProviderErrors"  # 0 or 1 per call, so its average is the error rate
    POLL_FAILURES = "PollFailures"  # the state machine's catch-all
    EEID_WEBHOOK_REJECTED = "EeidWebhookRejected"  # reason
    PERSON_THROTTLED = "PersonThrottled"  # family
    WEBHOOK_ATTEMPTS = "WebhookAttempts"  # status: the delivery's status after the attempt


SERVICE = "eid-broker"
# One dimension set per detail level: `service` alone (alarms), then the detail (the dashboard).
DETAIL: dict[Metric, tuple[tuple[str, ...], ...]] = {
    Metric.SESSIONS_STARTED: (("method",),),
    Metric.SESSIONS_COMPLETED: (("method",),),
    Metric.SESSIONS_FAILED: (("method",), ("method", "code")),
    Metric.SESSIONS_EXPIRED: (("method",), ("method", "code")),
    Metric.SESSIONS_CANCELLED: (("method",),),
    Metric.SESSION_SECONDS: (("method",),),
    Metric.SESSIONS_ERASED: (("trigger",),),
    Metric.PROVIDER_LATENCY: (("provider",), ("provider", "error_class")),
    Metric.PROVIDER_ERRORS: (("provider",), ("provider", "error_class")),
    Metric.POLL_FAILURES: (),
    Metric.EEID_WEBHOOK_REJECTED: (("reason",),),
    Metric.PERSON_THROTTLED: (("family",),),
    Metric.WEBHOOK_ATTEMPTS: (("status",),),
}


def emit(values: dict[Metric, tuple[float, MetricUnit]], **dimensions: str) -> None:
    """One CloudWatch Embedded Metric Format line on stdout (Lambda ships it to CloudWatch: no API
    call). Its dimension sets are `service` alone plus every detail set all of whose names are given.
    Never raises: a metric must not break the call it counts."""
    try:
        settings = get_settings()
        if settings.powertools_metrics_disabled:
            return
        blob = AmazonCloudWatchEMFProvider(namespace=settings.powertools_metrics_namespace, service=SERVICE)
        sets: list[tuple[str, ...]] = []
        for metric, (value, unit) in values.items():
            blob.add_metric(name=metric.value, unit=unit, value=value)
            sets += [names for names in DETAIL[metric] if names not in sets]
        for names in sets:
            if all(dimensions.get(name) for name in names):
                blob.add_dimensions(service=SERVICE, **{name: dimensions[name] for name in names})
        # allow_nan=False: CloudWatch drops a line with NaN or Infinity, so such a line is not printed.
        line = json.dumps(blob.serialize_metric_set(), separators=(",", ":"), allow_nan=False)
        print(line, flush=True)
    except Exception:
        logger.warning("metric not emitted", exc_info=True)


def count(metric: Metric, **dimensions: str) -> None:
    emit({metric: (1, MetricUnit.Count)}, **dimensions)
