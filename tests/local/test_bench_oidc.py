"""The OIDC phase's arithmetic (local/bench/oidc.py) and its ID token check (local/bench/oidc_client.py):
no stack, no sockets."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from local.bench.common import BenchError
from local.bench.oidc import (
    api_path_cost,
    first_calls,
    login_cost,
    per_login,
    redirect_latencies,
    redirect_target,
)
from local.bench.oidc_client import LoginRun, check_claims, control_code, verify_id_token

LOGIN, TOKEN, POLL = (
    "eid-broker-local-oidc-login",
    "eid-broker-local-oidc-token",
    "eid-broker-local-dokobit-poll",
)
SESSIONS, OIDC = "eid-broker-local-SessionsTable", "eid-broker-local-OidcTable"


def _run(code: str, opened: float, redirected: float | None) -> LoginRun:
    return LoginRun("", opened, "completed", redirected, 0, 0, redirected or 0.0, code)


def _entry(
    invocations: int, handler_ms: list[float], cold: int = 0, init_ms: list[float] | None = None
) -> dict:
    return {
        "invocations": invocations,
        "cold_starts": cold,
        "errors": 0,
        "handler_ms": handler_ms,
        "init_ms": init_ms or [],
    }


def test_the_login_bound_is_the_api_paths_plus_one_second() -> None:
    assert redirect_target(3.0) == pytest.approx((3.3, 4.3))


def test_each_login_is_paired_with_its_sandbox_session_by_control_code() -> None:
    runs = [_run("1234", 100.0, 110.5), _run("5678", 101.0, 112.0), _run("9999", 102.0, None)]
    provided = [
        {"control_code": "5678", "created_at": 101.2, "ready_at": 108.2},
        {"control_code": "1234", "created_at": 100.2, "ready_at": 107.2},
        {"control_code": "9999", "created_at": 102.2, "ready_at": 109.2},
    ]

    latencies, by_order = redirect_latencies(runs, provided)

    # The third never reached redirect_uri: it is not a latency
    assert sorted(latencies) == pytest.approx([3.3, 3.8])
    assert by_order == 0


def test_first_calls_take_each_logins_first_call_on_a_new_or_a_warm_worker() -> None:
    entries = [
        _entry(3, [400.0, 20.0, 9000.0], cold=1, init_ms=[600.0]),
        _entry(3, [380.0, 18.0, 8000.0], cold=1, init_ms=[550.0]),
        _entry(2, [12.0, 8000.0]),  # no new worker: not a cold figure
    ]

    assert first_calls(entries, cold=True) == {"call_ms": [400.0, 380.0], "init_ms": [600.0, 550.0]}
    assert first_calls(entries, cold=False) == {"call_ms": [12.0]}


def _wave_stats() -> dict[str, Any]:
    """Two logins as diff_stats gives them: the functions' calls, the bench's and the stack's own."""
    return {
        "api_requests": 16,
        "lambda": {
            LOGIN: _entry(12, [20.2] * 10 + [7000.0, 7000.0]),
            TOKEN: _entry(4, [40.0, 40.0, 10.0, 10.0]),
            POLL: _entry(6, [100.0] * 6),
        },
        "aws_requests": {
            (LOGIN, "dynamodb", "GetItem", OIDC): 20,
            (LOGIN, "dynamodb", "PutItem", OIDC): 6,
            (LOGIN, "dynamodb", "PutItem", SESSIONS): 2,
            (POLL, "dynamodb", "UpdateItem", SESSIONS): 2,
            (TOKEN, "trentservice", "Sign", ""): 2,
            (LOGIN, "stepfunctions", "StartExecution", ""): 2,
            ("", "dynamodb", "Scan", SESSIONS): 5,  # the bench's size sample
            ("eid-broker-local", "sqs", "ReceiveMessage", ""): 9,  # the stack's idle mapping polls
        },
        "stepfunctions": {"executions": 2, "state_transitions": 20},
    }


def test_per_login_counts_only_the_functions_calls_in_capacity_units() -> None:
    per = per_login(_wave_stats(), 2, {"pending": 500.0, "final": 1741.0})

    assert per["api_requests"] == 8
    # A final sessions item of 1,741 B is 2 write units; the pending one (500 B) 1
    assert per["dynamodb"] == {"oidc RRU": 10, "oidc WRU": 3, "sessions WRU": 1 + 2}
    assert per["kms"] == {"Sign": 1}
    assert per["stepfunctions"] == {"StartExecution": 1, "state_transitions": 10}
    assert per["sqs"] == 0
    # Billed per invocation, rounded up to the millisecond
    assert per["lambda"]["oidc-login"] == {"invocations": 6, "billed_ms": (10 * 21 + 14000) / 2}
    assert per["lambda"]["oidc-token"] == {"invocations": 2, "billed_ms": 50}


def test_login_cost_prices_each_service_at_list_prices() -> None:
    per = {
        "api_requests": 8.0,
        "lambda": {
            "a": {"invocations": 6.0, "billed_ms": 4000.0},
            "b": {"invocations": 2.0, "billed_ms": 96.0},
        },
        "dynamodb": {"oidc RRU": 10.0, "oidc WRU": 3.0, "sessions WRU": 3.0},
        "kms": {"Sign": 1.0},
        "stepfunctions": {"StartExecution": 1.0, "state_transitions": 10.0},
        "sqs": 0.0,
    }

    cost = login_cost(per, 256, 9.04)

    assert cost["Lambda"] == pytest.approx(8 * 0.2e-6 + 4.096 * 0.25 * 0.0000166667)
    assert cost["API Gateway"] == pytest.approx(8 * 3.5e-6)
    assert cost["WAF"] == pytest.approx(8 * 0.6e-6)
    assert cost["DynamoDB"] == pytest.approx(10 * 0.125e-6 + 6 * 0.625e-6)
    assert cost["KMS"] == pytest.approx(0.03 / 10_000)  # requests involving RSA 2048 keys
    # Express: $1 per million starts plus 9.1 s (billed by 100 ms) at 64 MB
    assert cost["Step Functions"] == pytest.approx(1e-6 + 9.1 * 0.0625 * 0.00001667)
    assert cost["total"] == pytest.approx(math.fsum(v for k, v in cost.items() if k != "total"))


def test_the_api_paths_session_gets_the_same_rows_and_its_waf_request() -> None:
    measured = {"Step Functions": 1e-5, "Lambda": 7e-6, "DynamoDB": 2e-6, "API Gateway (start)": 3.5e-6}
    table = {"measured": {"Express (this)": {**measured, "total": 2.25e-5}}}

    cost = api_path_cost(table)

    assert cost["API Gateway"] == 3.5e-6 and cost["WAF"] == 0.6e-6
    assert cost["total"] == pytest.approx(2.25e-5 + 0.6e-6)


def test_the_waiting_pages_control_code_is_read() -> None:
    page = '<p class="code" id="control-code" aria-hidden="true">4821</p>'
    assert control_code(page) == "4821"
    assert control_code("<p>no code</p>") == ""


EXPECTED = {"iss": "http://127.0.0.1:3000", "aud": "rp", "nonce": "n-1", "acr": "high", "amr": ["mID"]}


def _claims(**changes: Any) -> dict[str, Any]:
    return {**EXPECTED, "sub": "EE60001019906", "exp": int(time.time()) + 300, **changes}


def test_claims_as_asked_have_no_problem() -> None:
    assert check_claims(_claims(), {**EXPECTED, "sub": "EE60001019906"}, time.time()) == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"nonce": "n-2"}, "nonce"),
        ({"amr": ["smartid"]}, "amr"),
        ({"acr": "substantial"}, "acr"),
        ({"aud": "other"}, "aud"),
        ({"sub": ""}, "no sub"),
        ({"sub": "EE1"}, "sub differs"),
        ({"exp": int(time.time()) - 1}, "exp"),
    ],
)
def test_a_wrong_claim_is_named(changes: dict[str, Any], problem: str) -> None:
    problems = check_claims(_claims(**changes), {**EXPECTED, "sub": "EE60001019906"}, time.time())
    assert len(problems) == 1 and problem in problems[0]


def _signed(key: RSAKey, claims: dict[str, Any]) -> str:
    return jwt.encode({"alg": "RS256", "kid": key.thumbprint()}, claims, key)


def test_an_id_token_is_verified_against_the_jwks() -> None:
    key = RSAKey.generate_key(2048)
    jwks = KeySet([key]).as_dict(private=False)

    claims = verify_id_token(_signed(key, _claims()), jwks, EXPECTED)

    assert claims["sub"] == "EE60001019906"


def test_a_token_signed_by_another_key_or_with_wrong_claims_breaks_the_run() -> None:
    key, other = RSAKey.generate_key(2048), RSAKey.generate_key(2048)
    jwks = KeySet([key]).as_dict(private=False)

    with pytest.raises(BenchError, match="signature"):
        verify_id_token(_signed(other, _claims()), jwks, EXPECTED)
    with pytest.raises(BenchError, match="nonce"):
        verify_id_token(_signed(key, _claims(nonce="replayed")), jwks, EXPECTED)
