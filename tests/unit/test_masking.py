import json
import logging

from eid_broker.observability import MaskingFormatter, mask


def test_mask_hides_tokens_phones_and_personal_codes() -> None:
    text = (
        "GET /v2/mobile/login/status/abc.json?access_token=s3cr3t-Tok&x=1 phone +37200000766 "
        'code 60001019906 lv 050405-10009 Authorization: Bearer eyJhbGciOi.x.y {"client_secret": "abc"}'
    )
    masked = mask(text)
    for secret in ("s3cr3t-Tok", "+37200000766", "60001019906", "050405-10009", "eyJhbGciOi", '"abc"'):
        assert secret not in masked
    assert "access_token=***" in masked


def test_formatter_masks_the_whole_line_including_extras() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "calling %s", ("?access_token=abc123",), None)
    record.phone = "+37060000666"
    line = MaskingFormatter().format(record)
    assert "abc123" not in line and "+37060000666" not in line
    assert json.loads(line)["message"] == "calling ?access_token=***"
