"""A relying party and a person's browser without JavaScript, in plain HTTP, for the OIDC tests."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

CALLBACK = "http://127.0.0.1:9/cb"  # never fetched: the test reads the Location header
MOBILE_ID = {"phone": "+37200000766", "personal_code": "60001019906"}  # MARY ÄNN, completes
SMART_ID = {"country": "EE", "personal_code": "40504040001"}  # ONA, completes


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def register(url: str, api_key: str, client_id: str, **body: object) -> dict:
    answer = requests.put(
        f"{url}/v1/oidc-clients/{client_id}",
        json={
            "client_name": "Example Bank",
            "redirect_uris": [CALLBACK],
            "methods": ["dokobit-mobile-id", "dokobit-smart-id"],
            **body,
        },
        headers={"x-api-key": api_key},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def field_value(html: str, name: str) -> str | None:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    return unescape(found.group(1)) if found else None


@dataclass
class Browser:
    url: str
    http: requests.Session = field(default_factory=requests.Session)
    page: requests.Response | None = None

    def open(self, **params: str) -> requests.Response:
        """GET /oidc/authorize and follow the broker's own redirects to the page (or the RP's)."""
        return self.follow(
            self.http.get(f"{self.url}/oidc/authorize?{urlencode(params)}", allow_redirects=False, timeout=30)
        )

    def follow(self, answer: requests.Response) -> requests.Response:
        while answer.status_code in (302, 303) and answer.headers["Location"].startswith(self.url):
            answer = self.http.get(answer.headers["Location"], allow_redirects=False, timeout=30)
        self.page = answer
        return answer

    @property
    def csrf(self) -> str:
        assert self.page is not None
        token = field_value(self.page.text, "csrf")
        assert token, self.page.text
        return token

    def post(self, **fields: str) -> requests.Response:
        body = {"csrf": self.csrf, **fields}
        return self.follow(
            self.http.post(f"{self.url}/oidc/login", data=body, allow_redirects=False, timeout=30)
        )

    def wait(self, timeout: float = 30) -> requests.Response:
        """Reload the waiting page as its <meta refresh> does, until it changes."""
        deadline = time.monotonic() + timeout
        assert self.page is not None
        while 'id="control-code"' in self.page.text and time.monotonic() < deadline:
            time.sleep(1)
            self.follow(self.http.get(f"{self.url}/oidc/login", allow_redirects=False, timeout=30))
        return self.page

    def login(self, person: dict[str, str], method: str | None = None, **params: str) -> requests.Response:
        page = self.open(**params)
        assert page.status_code == 200, page.text
        if method is not None:
            page = self.post(action="choose", method=method)
        page = self.post(action="start", **person)
        assert 'id="control-code"' in page.text, page.text
        return self.wait()


def callback(answer: requests.Response) -> dict[str, str]:
    """The RP's callback parameters from the broker's final redirect."""
    assert answer.status_code in (302, 303), answer.text
    location = answer.headers["Location"]
    assert location.startswith(CALLBACK + "?"), location
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}
