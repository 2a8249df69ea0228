"""A client generated from openapi.json by openapi-python-client runs the Mobile-ID walkthrough."""

from __future__ import annotations

import importlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import API_KEY, ROOT, Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def eid_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    where = tmp_path_factory.mktemp("generated")
    config = where / "config.yaml"
    config.write_text("package_name_override: eid_client\npost_hooks: []\n")
    generator = Path(sys.executable).with_name("openapi-python-client")
    subprocess.run(
        [
            *(str(generator), "generate", "--path", str(ROOT / "openapi.json"), "--config", str(config)),
            *("--meta", "none", "--output-path", str(where / "eid_client")),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module("eid_client")
    finally:
        sys.path.remove(str(where))


def test_the_mobile_id_walkthrough_through_the_generated_client(eid_client: Any, stack: Stack) -> None:
    start = importlib.import_module("eid_client.api.sessions.start_dokobit_mobile_id")
    get_session = importlib.import_module("eid_client.api.sessions.get_session")
    models = importlib.import_module("eid_client.models")
    client = eid_client.AuthenticatedClient(
        base_url=stack.url, token=API_KEY, prefix="", auth_header_name="x-api-key"
    )

    started = start.sync(
        client=client, body=models.MobileIdStart(phone="+37200000766", personal_code="60001019906")
    )

    assert isinstance(started, models.SessionOut)
    assert isinstance(started.next_action, models.ShowControlCode)  # typed, not a dict
    assert started.next_action.control_code.isdigit()
    session = started
    deadline = time.monotonic() + 30
    while session.status == "pending" and time.monotonic() < deadline:
        time.sleep(0.25)
        session = get_session.sync(session_id=started.session_id, client=client)
    assert session.status == "completed"
    assert session.identity.personal_code == "60001019906"
    assert session.next_action is None
