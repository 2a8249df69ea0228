import re
from pathlib import Path

from local import openapi
from tests import wiring


def test_committed_openapi_matches_the_code() -> None:
    committed = (Path(openapi.ROOT) / "openapi.json").read_text()
    assert committed == openapi.render(), "openapi.json is stale: run `make openapi` and commit it"


def test_every_api_route_of_the_template_is_documented() -> None:
    document = openapi.build()
    assert set(document["paths"]) == wiring.api_paths()
    assert document["paths"]["/eeid/webhooks/identification_requests"]["post"]["security"] == []
    assert set(document["paths"]["/v1/sessions/{session_id}"]) == {"get", "delete"}
    assert document["security"] == [{"apiKey": []}]


def test_every_operation_has_a_short_explicit_id() -> None:
    operations = [op for path in openapi.build()["paths"].values() for op in path.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+){1,3}", op_id) for op_id in ids), ids


def test_next_action_is_a_union_told_apart_by_type() -> None:
    schemas = openapi.build()["components"]["schemas"]
    (union, _null) = schemas["SessionOut"]["properties"]["next_action"]["anyOf"]
    mapping = union["discriminator"]["mapping"]
    assert union["discriminator"]["propertyName"] == "type"
    assert set(mapping) == {"show_control_code", "redirect", "enter_otp"}
    assert all("type" in schemas[ref.rsplit("/", 1)[1]]["required"] for ref in mapping.values())
