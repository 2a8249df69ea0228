"""The sandboxes register themselves: the template's provider URLs, the secrets and the ports follow."""

from __future__ import annotations

import pkgutil
from pathlib import Path

import local.sandboxes
from local.emulator.cfn import Template
from local.sandboxes import CREDENTIALS, SANDBOXES, registry

TEMPLATE = Template.load(Path(__file__).resolve().parents[2] / "template.yaml")


def test_every_provider_url_of_the_template_has_one_built_in_sandbox() -> None:
    urls = {name for name in TEMPLATE.parameters if name.endswith("BaseUrl")}
    assert sorted(spec.base_url_parameter for spec in SANDBOXES) == sorted(urls)


def test_every_provider_secret_of_the_template_is_seeded_from_its_sandbox() -> None:
    names = {
        str(secret["Properties"]["Name"]["Fn::Sub"]).rsplit("/", 1)[-1]
        for _, secret in TEMPLATE.of_type("AWS::SecretsManager::Secret")
    }
    assert set(CREDENTIALS) == names - {"broker-key"}
    assert all(spec.credentials for spec in SANDBOXES)


def test_each_module_that_declares_a_sandbox_is_found_once_with_its_own_port() -> None:
    declaring = {
        module.name
        for module in pkgutil.iter_modules(local.sandboxes.__path__)
        if hasattr(__import__(f"local.sandboxes.{module.name}", fromlist=["_"]), "SANDBOX")
    }
    assert {spec.provider for spec in registry()} == declaring
    assert len({spec.port for spec in SANDBOXES}) == len(SANDBOXES)
    assert [spec.port for spec in SANDBOXES] == sorted(spec.port for spec in SANDBOXES)
