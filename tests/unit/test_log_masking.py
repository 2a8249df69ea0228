"""Masking happens at the root of logging: every logger, every handler, exceptions included."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from eid_broker.errors import ProviderUnavailable
from eid_broker.http import make_session
from eid_broker.observability import MaskingFormatter, install_record_masking
from eid_broker.providers.dokobit import DokobitClient
from tests.transport import mount

ACCESS = "tok-SECRET-123"
STATUS = "status-TOKEN-456"


@pytest.fixture
def root_text() -> Iterator[io.StringIO]:
    """What a plain handler on the root logger prints, as Lambda's runtime handler would."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_urllib3_retry_warnings_reach_the_root_handler_masked(root_text: io.StringIO) -> None:
    session = make_session(backoff=0.01)
    url = mount(session, None)  # the provider drops every connection at once, so urllib3 retries and warns
    client = DokobitClient(url, ACCESS, session)
    with pytest.raises(ProviderUnavailable) as raised:
        client.login_status(STATUS)
    try:
        raise raised.value
    except ProviderUnavailable:
        logging.getLogger("eid_broker.test").exception("status call failed")
    text = root_text.getvalue()
    assert "WARNING urllib3.connectionpool Retrying" in text
    assert "/v2/mobile/login/status/***?access_token=***" in text
    # The chained requests error names the URL again, inside the traceback.
    assert "Max retries exceeded with url" in text and "ProviderUnavailable" in text
    assert ACCESS not in text and STATUS not in text
    assert ACCESS not in str(raised.value) and urlsplit(url).hostname not in str(raised.value)


def test_any_library_logger_is_masked_through_root(root_text: io.StringIO) -> None:
    logging.getLogger("some.lib").warning(
        "otp=%s phone %s code %s Authorization=abc.def", "123456", "+37200000766", "60001019906"
    )
    logging.getLogger("other.lib").warning(
        "GET /v1/otpmanager/otp/validate?key=eidb-0a1b2c3d4e-k1&otp=654321 lv 050405-10009"
    )
    text = root_text.getvalue()
    assert "WARNING some.lib otp=*** phone *** code *** Authorization=***" in text
    assert "key=eidb-0a1b2c3d4e-k1&otp=*** lv ***" in text
    for secret in ("123456", "+37200000766", "60001019906", "abc.def", "654321", "050405-10009"):
        assert secret not in text


def test_an_exception_is_masked_in_the_formatted_traceback_and_in_its_text(root_text: io.StringIO) -> None:
    records: list[logging.LogRecord] = []
    collector = logging.Handler()
    collector.emit = records.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(collector)
    try:
        try:
            raise ValueError("refused ?access_token=SECRET-abc and secretKey=SECRET-def")
        except ValueError:
            logging.getLogger("some.lib").exception("call failed, password=%s", "SECRET-ghi")
    finally:
        logging.getLogger().removeHandler(collector)
    text = root_text.getvalue()
    assert "Traceback (most recent call last)" in text and "ValueError: refused ?access_token=***" in text
    assert "call failed, password=***" in text
    assert "SECRET" not in text
    # A handler that reads the exception itself (Lambda's JSON format: errorType, errorMessage).
    (record,) = records
    assert record.exc_info is not None and record.exc_info[0] is ValueError
    assert str(record.exc_info[1]) == "refused ?access_token=*** and secretKey=***"


def test_the_broker_formatter_keeps_the_exception_fields_masked() -> None:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(MaskingFormatter())
    log = logging.getLogger("eid_broker.test.powertools")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            raise RuntimeError("token=SECRET-jkl for +37060000666")
        except RuntimeError:
            log.exception("failed", extra={"detail": "Authorization=SECRET-mno"})
    finally:
        log.removeHandler(handler)
        log.propagate = True
    line = json.loads(buffer.getvalue())
    assert line["exception_name"] == "RuntimeError"
    assert "RuntimeError: token=*** for ***" in line["exception"]
    assert line["detail"] == "Authorization=***"
    assert "SECRET" not in buffer.getvalue() and "+37060000666" not in buffer.getvalue()


def test_installing_twice_does_not_wrap_twice() -> None:
    factory = logging.getLogRecordFactory()
    install_record_masking()
    install_record_masking()
    assert logging.getLogRecordFactory() is factory
    assert getattr(factory, "eid_masking", False)


def test_a_malformed_log_call_does_not_raise_and_is_masked(root_text: io.StringIO) -> None:
    logging.getLogger("some.lib").warning("only %s %s", "token=SECRET-pqr")
    assert "SECRET" not in root_text.getvalue() and "token=***" in root_text.getvalue()
