from pathlib import Path

from local import openapi


def test_committed_openapi_matches_the_code() -> None:
    committed = (Path(openapi.ROOT) / "openapi.json").read_text()
    assert committed == openapi.render(), "openapi.json is stale: run `make openapi` and commit it"


def test_every_api_route_of_the_template_is_documented() -> None:
    document = openapi.build()
    assert set(document["paths"]) == {
        "/v1/sessions/dokobit-mobile-id",
        "/v1/sessions/marksign-mobile-id",
        "/v1/sessions/eeid",
        "/v1/sessions/mobbid-face",
        "/v1/sessions/mosip-otp",
        "/v1/sessions/mosip-password",
        "/v1/sessions/{session_id}/otp",
        "/v1/mosip/tokens/validate",
        "/v1/mosip/tokens/invalidate",
        "/v1/mosip/otp/generate",
        "/v1/mosip/otp/validate",
        "/v1/sessions/{session_id}",
        "/v1/sessions/{session_id}/proof",
        "/v1/eeid/identifications",
        "/eeid/webhooks/identification_requests",
    }
    assert document["paths"]["/eeid/webhooks/identification_requests"]["post"]["security"] == []
    assert set(document["paths"]["/v1/sessions/{session_id}"]) == {"get", "delete"}
    assert document["security"] == [{"apiKey": []}]
