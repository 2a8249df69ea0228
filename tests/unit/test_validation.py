from datetime import date

import pytest

from eid_broker.validation import birth_date, mobile_country, personal_code_problem


@pytest.mark.parametrize(
    ("phone", "country"),
    [
        ("+37200000766", "EE"),
        ("+3725123456", "EE"),
        ("+37060000666", "LT"),
        ("+37120000000", "LV"),
        ("+37050000666", None),  # LT landline
        ("+37160000000", None),  # LV non-mobile
        ("37200000766", None),  # not E.164
        ("+372000007661", None),  # too long
        ("+4915112345678", None),
        ("", None),
        ("+37200000766\n", None),  # `$` would accept a trailing newline
        ("+372\u0660\u0660\u0660\u0660\u0660\u0667\u0666\u0666", None),  # Arabic-Indic digits
        ("+372０００００７６６", None),  # fullwidth digits
    ],
)
def test_mobile_numbers_of_ee_lt_lv(phone: str, country: str | None) -> None:
    assert mobile_country(phone) == country


@pytest.mark.parametrize(
    ("country", "code"),
    [
        ("EE", "60001019906"),
        ("EE", "36805280109"),
        ("LT", "50001018865"),
        ("LT", "33309240064"),
        ("LV", "050405-10009"),
        ("LV", "329999-88807"),
    ],
)
def test_valid_personal_codes_pass(country: str, code: str) -> None:
    assert personal_code_problem(country, code) is None


@pytest.mark.parametrize(
    ("country", "code", "why"),
    [
        ("EE", "36805280108", "check digit"),
        ("EE", "60001019907", "check digit"),
        ("EE", "9000101990", "11 digits"),
        ("EE", "6000101990a", "11 digits"),
        ("EE", "60013329906", "check digit"),
        ("LV", "050405-10008", "check digit"),
        ("LV", "05040510009", "DDMMYY-CNNNN"),
        ("FI", "010101-123N", "not supported"),
    ],
)
def test_invalid_personal_codes_say_why_without_the_value(country: str, code: str, why: str) -> None:
    problem = personal_code_problem(country, code)
    assert problem is not None and why in problem
    assert code not in problem


def test_a_code_with_a_valid_checksum_but_impossible_date_is_refused() -> None:
    # Given a code for 30 February whose check digit is right
    digits = [int(c) for c in "6000230000"]
    check = sum(d * w for d, w in zip(digits, (1, 2, 3, 4, 5, 6, 7, 8, 9, 1), strict=True)) % 11
    if check == 10:
        check = sum(d * w for d, w in zip(digits, (3, 4, 5, 6, 7, 8, 9, 1, 2, 3), strict=True)) % 11 % 10
    code = "6000230000" + str(check)
    # Then it is refused for its date
    assert personal_code_problem("EE", code) == "birth date is not a real date"


def test_birth_dates_come_from_the_code() -> None:
    assert birth_date("EE", "60001019906") == date(2000, 1, 1)
    assert birth_date("EE", "36805280109") == date(1968, 5, 28)
    assert birth_date("LV", "050405-10009") == date(1905, 4, 5)
    assert birth_date("LV", "329999-88807") is None


@pytest.mark.parametrize(
    ("country", "code"),
    [
        ("EE", "60001019906\n"),
        ("EE", "\u0666\u0660\u0660\u0660\u0661\u0660\u0661\u0669\u0669\u0660\u0666"),
        ("LT", "50001018865 "),
        ("LV", "050405-10009\n"),
        ("LV", "０50405-10009"),
    ],
)
def test_personal_codes_are_matched_in_full_against_ascii_digits(country: str, code: str) -> None:
    assert personal_code_problem(country, code) is not None
