"""One logger for every function; secrets and personal data are masked in the formatter, at the source."""

from __future__ import annotations

import logging
import re

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"(access_token|client_secret|secret_key|api_?key|password|token)([\"']?\s*[=:]\s*[\"']?)[^&\s\"',}]+",
            re.I,
        ),
        r"\1\2***",
    ),
    (re.compile(r"(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 ***"),
    (re.compile(r"\+?\b\d{3}[\d ]{6,12}\d\b"), "***"),
    (re.compile(r"\b\d{6}-?\d{5}\b"), "***"),
)


def mask(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


class MaskingFormatter(LambdaPowertoolsFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


logger = Logger(service="eid-broker", logger_formatter=MaskingFormatter())
# urllib3 logs full URLs (Dokobit's access_token rides in the query) at DEBUG.
logging.getLogger("urllib3").setLevel(logging.WARNING)
