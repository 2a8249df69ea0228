"""The demo page's serving (`/demo` on `make run` only): files of local/demo by exact name, content
types, a strict Content-Security-Policy, and sandbox personas that are valid start bodies."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from werkzeug.test import Client

from eid_broker.methods import (
    dokobit_mobile_id,
    dokobit_smart_id,
    eeid,
    marksign_mobile_id,
    marksign_smart_id,
    mobbid,
    mosip,
)
from local import demo
from local.emulator.cfn import Resolver, Template
from local.emulator.frontdoor import api_routes
from local.sandboxes import SANDBOXES

REPO = Path(__file__).resolve().parents[2]
ALL_PROVIDERS = {spec.provider for spec in SANDBOXES}
METHODS = {
    m.name: m
    for m in (
        dokobit_mobile_id.METHOD,
        marksign_mobile_id.METHOD,
        dokobit_smart_id.METHOD,
        marksign_smart_id.METHOD,
        eeid.METHOD,
        mobbid.METHOD,
        mosip.OTP_METHOD,
        mosip.PASSWORD_METHOD,
    )
}


@pytest.fixture
def client() -> Client:
    return Client(demo.DemoApp(ALL_PROVIDERS))


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/demo", "text/html; charset=utf-8"),
        ("/demo/", "text/html; charset=utf-8"),
        ("/demo/index.html", "text/html; charset=utf-8"),
        ("/demo/demo.js", "text/javascript; charset=utf-8"),
        ("/demo/demo.css", "text/css; charset=utf-8"),
        ("/demo/favicon.svg", "image/svg+xml"),
        ("/demo/personas.json", "application/json"),
    ],
)
def test_each_file_has_its_content_type_and_the_strict_headers(
    client: Client, path: str, content_type: str
) -> None:
    answer = client.get(path)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == content_type
    csp = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe" not in csp and "data:" not in csp and "*" not in csp
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/demo/__init__.py",
        "/demo/../stack.py",
        "/demo/..%2fstack.py",
        "/demo/%2e%2e/stack.py",
        "/demo//index.html",
        "/demo/missing.js",
        "/demo/index.html/x",
        "/demo/INDEX.HTML",
    ],
)
def test_nothing_outside_the_files_of_local_demo_is_served(client: Client, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404 and b"import" not in answer.data
    assert "Content-Security-Policy" in answer.headers


def test_only_get_and_head(client: Client) -> None:
    assert client.head("/demo").status_code == 200 and client.head("/demo").data == b""
    answer = client.post("/demo", data=b"{}")
    assert answer.status_code == 405 and answer.headers["Allow"] == "GET, HEAD"


def test_the_page_has_no_inline_script_or_style_and_never_renders_data_as_html() -> None:
    page = (REPO / "local/demo/index.html").read_text()
    assert re.findall(r"<script\b[^>]*>", page) == ['<script src="/demo/demo.js" defer>']
    assert not re.search(r"\son\w+=|\sstyle=|<style|javascript:", page)
    script = (REPO / "local/demo/demo.js").read_text()
    as_html = r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function"
    assert not re.search(as_html, script)


def test_the_template_never_routes_demo() -> None:
    template = Template.load(REPO / "template.yaml")
    resolver = Resolver(
        template,
        template.parameter_values({}, {"Stage": "local"}),
        region="eu-north-1",
        account_id="123456789012",
        stack_name="eid-broker-local",
    )
    assert not [route for route in api_routes(resolver) if demo.is_demo_path(route.path)]
    assert "/demo" not in (REPO / "template.yaml").read_text()


def test_every_persona_is_a_valid_start_body_of_its_method() -> None:
    listed = demo.personas(ALL_PROVIDERS)
    assert {entry["method"] for entry in listed} == set(METHODS)
    for entry in listed:
        assert entry["personas"], entry["method"]
        for persona in entry["personas"]:
            body = dict(persona["body"])
            if body.get("return_url") == "RETURN_URL":  # the page puts its own address there
                body["return_url"] = "http://127.0.0.1:3000/demo/"
            METHODS[entry["method"]].body.model_validate(body)
    mobile_id = next(e for e in listed if e["method"] == "dokobit-mobile-id")["personas"]
    assert mobile_id[0]["body"] == {"phone": "+37200000766", "personal_code": "60001019906"}


def test_no_test_person_is_offered_for_a_provider_that_is_not_the_built_in_sandbox() -> None:
    listed = {e["method"]: e["personas"] for e in demo.personas(ALL_PROVIDERS - {"dokobit"})}
    assert listed["dokobit-mobile-id"] == [] and listed["dokobit-smart-id"] == []
    assert listed["marksign-mobile-id"] and listed["mosip-otp"]
