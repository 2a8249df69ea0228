"""The providers' parsers read their documented samples, with the nulls the documents show, the nulls a
real answer carries (a Smart-ID certificate has no O or OU) and optional fields left out. An answer that
cannot be read is logged with the field path and the rule it broke, never the value."""

from __future__ import annotations

import copy
import json
import logging

import pytest
from pydantic import ValidationError

from eid_broker.errors import Code, ProviderBadResponse
from eid_broker.providers import dokobit, marksign, mobbid, mosip
from eid_broker.providers.base import unreadable

# Dokobit's documented status answer of a completed Mobile-ID login.
DOKOBIT_OK = {
    "status": "ok",
    "name": "MARY ÄNN",
    "surname": "O’CONNEŽ-ŠUSLIK TESTNUMBER",
    "code": "60001019906",
    "country": "EE",
    "certificate": {
        "name": (
            "/C=EE/O=ESTEID (MOBIIL-ID)/OU=authentication/CN=O’CONNEŽ-ŠUSLIK TESTNUMBER,MARY ÄNN,60001019906"
        ),
        "subject": {
            "country": "EE",
            "organisation": "ESTEID (MOBIIL-ID)",
            "organisation_unit": "authentication",
            "common_name": "O’CONNEŽ-ŠUSLIK TESTNUMBER,MARY ÄNN,60001019906",
            "surname": "O’CONNEŽ-ŠUSLIK TESTNUMBER",
            "name": "MARY ÄNN",
            "serial_number": "60001019906",
        },
        "issuer": {
            "country": "EE",
            "organisation": "AS Sertifitseerimiskeskus",
            "common_name": "TEST of ESTEID-SK 2015",
        },
        "valid_from": "2018-08-09T14:20:27+00:00",
        "valid_to": "2022-12-11T21:59:59+00:00",
        "value": None,
    },
}
# MarkSign's documented status answer: a certificate subject with null organisation fields.
MARKSIGN_OK = {
    "status": "ok",
    "country": "EE",
    "certificate": {
        "name": "/C=EE/CN=TESTNUMBER,TEN,60001017705/SN=TESTNUMBER/GN=TEN/serialNumber=PNOEE-60001017705",
        "subject": {
            "country": "EE",
            "organisation": None,
            "organisation_unit": None,
            "common_name": "TESTNUMBER,TEN,60001017705",
            "surname": "TESTNUMBER",
            "name": "TEN",
            "serial_number": "PNOEE-60001017705",
        },
        "issuer": {
            "country": "EE",
            "organisation": "AS Sertifitseerimiskeskus",
            "common_name": "TEST of ESTEID-SK 2015",
        },
        "valid_from": "2020-11-13",
        "valid_to": "2025-11-12",
        "value": None,
    },
    "code": "60001017705",
    "name": "TEN",
    "token": "381ed84f-0851-ce1e-a048-fa1e13a53bba",
    "control_code": "6223",
    "surname": "TESTNUMBER",
    "sanctions_data": [],
    "peps_data": [],
}
# MobbID's documented biometric operation (placeholders made concrete), and its gateway process.
MOBBID_OPERATION = {
    "id": "0c6d1a48-8f3e-4c1b-9a52-000000000001",
    "transactionId": None,
    "biometricMethod": "FACE",
    "type": "VERIFICATION",
    "status": "SUCCESS",
    "createdAt": "2026-12-01T10:00:00Z",
    "finishedAt": None,
    "userAgent": None,
    "clientVersion": None,
    "data": {
        "result": True,
        "userId": "user-1",
        "liveness": "FACE_PASSIVE_VIDEO",
        "scores": [{"score": 0.97, "scoreType": "MATCHING"}],
        "ranking": None,
        "groupId": None,
        "error": None,
    },
    "resources": [{"id": "r-1", "type": "SELFIE", "url": None, "format": None}],
}
# MOSIP's documented password login answer (userId and metadata null) and its refusal (response null).
MOSIP_OK = {
    "id": "string",
    "version": "string",
    "responsetime": "2021-01-06T05:52:26.667Z",
    "metadata": None,
    "response": {
        "token": "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE2MDk5NDgzNDZ9.sig",
        "message": "Username and password combination had been validated successfully",
        "refreshToken": "r",
        "expiryTime": 36000,
        "userId": None,
        "status": "success",
        "refreshExpiryTime": 36000,
    },
    "errors": None,
}
MOSIP_REFUSED = {
    "id": "string",
    "version": "string",
    "responsetime": "2021-01-06T05:54:39.952Z",
    "metadata": None,
    "response": None,
    "errors": [{"errorCode": "KER-ATH-023", "message": "Invalid Credentials"}],
}


def nulled(sample: dict, *paths: tuple[str, ...]) -> dict:
    answer = copy.deepcopy(sample)
    for path in paths:
        target = answer
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = None
    return answer


def test_dokobit_reads_its_sample_and_a_smart_id_subject_without_o_or_ou() -> None:
    assert dokobit.StatusResponse.model_validate(DOKOBIT_OK).certificate is not None
    smart_id = nulled(
        DOKOBIT_OK,
        ("certificate", "subject", "organisation"),
        ("certificate", "subject", "organisation_unit"),
    )
    certificate = dokobit.StatusResponse.model_validate(smart_id).certificate
    assert certificate is not None
    broker = certificate.broker()
    assert "organisation" not in broker.subject and broker.subject["serial_number"] == "60001019906"


@pytest.mark.parametrize(
    "paths",
    [
        (("certificate",),),
        (("certificate", "subject"), ("certificate", "issuer")),
        (("name",), ("surname",), ("certificate", "name"), ("certificate", "valid_to")),
    ],
)
def test_dokobit_accepts_null_wherever_a_field_is_optional(paths: tuple[tuple[str, ...], ...]) -> None:
    assert dokobit.StatusResponse.model_validate(nulled(DOKOBIT_OK, *paths)).status == "ok"
    waiting = {"status": "waiting", "message": None, "error_code": None, "certificate": None}
    assert dokobit.StatusResponse.model_validate(waiting).status == "waiting"


def test_marksign_reads_its_sample_with_null_organisation_and_screening() -> None:
    parsed = marksign.StatusResponse.model_validate(MARKSIGN_OK)
    assert parsed.certificate is not None and "organisation" not in parsed.certificate.broker().subject
    unscreened = nulled(MARKSIGN_OK, ("sanctions_data",), ("peps_data",), ("certificate", "subject"))
    assert marksign.StatusResponse.model_validate(unscreened).certificate is not None
    trimmed = {key: value for key, value in MARKSIGN_OK.items() if key not in ("sanctions_data", "peps_data")}
    assert marksign.StatusResponse.model_validate(trimmed).peps_data is None


def test_marksign_smart_id_40801_is_a_provider_error_and_mobile_id_keeps_its_meaning() -> None:
    smart_id = marksign.outcome_error(40801, 400, marksign.SMART_ID_CODES)
    mobile_id = marksign.outcome_error(40801, 400, marksign.ERROR_CODES)
    assert (smart_id.code, smart_id.provider_code) == (Code.PROVIDER_ERROR, "40801")  # type: ignore[attr-defined]
    assert mobile_id.code == Code.PHONE_UNREACHABLE  # type: ignore[attr-defined]


def test_mobbid_reads_its_operation_with_nulls_and_without_optional_fields() -> None:
    assert mobbid.Operation.model_validate(MOBBID_OPERATION).data.scores[0].score == 0.97
    empty = nulled(MOBBID_OPERATION, ("resources",), ("data", "scores"), ("data", "result"))
    parsed = mobbid.Operation.model_validate(empty)
    assert parsed.resources == [] and parsed.data.scores == [] and parsed.data.result is None
    assert mobbid.Operation.model_validate(nulled(MOBBID_OPERATION, ("data",))).data.userId is None
    minimal = {"id": MOBBID_OPERATION["id"], "status": "PENDING"}
    assert mobbid.Operation.model_validate(minimal).resources == []
    process = {"id": "p-1", "status": "IN_PROGRESS", "operationId": None}
    assert mobbid.Process.model_validate(process).operationId is None


def test_mosip_reads_its_samples_with_null_envelope_fields() -> None:
    client = mosip.MosipClient.__new__(mosip.MosipClient)
    assert client._answer(MOSIP_OK)["status"] == "success"
    assert mosip._first_code(MOSIP_REFUSED) == "KER-ATH-023"
    assert mosip.outcome_error(MOSIP_REFUSED["errors"]).code == Code.INVALID_CREDENTIALS
    nameless = {**MOSIP_REFUSED, "errors": [{"errorCode": None, "message": None}]}
    assert mosip._first_code(nameless) == ""
    with pytest.raises(ProviderBadResponse):  # neither errors nor a response: unreadable, not a crash
        client._answer({**MOSIP_REFUSED, "errors": None})


def test_an_unreadable_answer_is_logged_with_field_path_and_rule_never_the_value(caplog) -> None:
    secret_code = "39912319999"
    bad = {
        **DOKOBIT_OK,
        "status": "ok",
        "code": 60001019906,
        "certificate": {"subject": {"serial_number": 7}},
    }
    bad["name"] = ["MARY", secret_code]
    with pytest.raises(ValidationError) as failed:
        dokobit.StatusResponse.model_validate(bad)

    with caplog.at_level(logging.WARNING):
        fault = unreadable("dokobit", "Dokobit answered an unreadable status response.", failed.value)

    assert isinstance(fault, ProviderBadResponse)
    logged = " ".join(json.dumps(getattr(r, "violations", None)) for r in caplog.records)
    assert '"field": "name", "rule": "string_type"' in logged
    assert '"field": "code", "rule": "string_type"' in logged
    assert "certificate.subject.serial_number" in logged
    assert secret_code not in caplog.text and "60001019906" not in caplog.text
