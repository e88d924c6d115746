"""Every registered model family, built-in or plugin, must pass these: the contract as an executable spec.

The checks themselves live in ``playground.conformance`` (``playground check-plugin`` runs the same code on a
plugin author's folder); here each check is one test per family, and one family's failed smoke run fails only
that family's tests.
"""

import pytest

from playground import conformance

from conftest import conformance_registry

REGISTRY = conformance_registry()
FAMILIES = sorted(REGISTRY.families)
TRAINED_CHECKS = [c for c in conformance.CHECKS if c.needs == "trained"]
OWN_RUN_CHECKS = [c for c in conformance.CHECKS if c.needs == "registry"]


def test_every_plugin_loads():
    """A plugin that fails to load would silently drop out of the parametrised checks below."""
    assert not REGISTRY.failures, [(f.plugin, f.stage, f.message) for f in REGISTRY.failures]


@pytest.fixture(scope="module")
def image():
    return conformance.sample_image(REGISTRY)


def run_check(check, *args):
    try:
        check.run(*args)
    except conformance.CheckSkipped as exc:
        pytest.skip(str(exc))
    except conformance.CheckFailed as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.mark.parametrize("check", TRAINED_CHECKS, ids=lambda c: c.name)
@pytest.mark.parametrize("name", FAMILIES)
def test_trained_family(smoke_runs, name, check, tmp_path, image):
    run_check(check, smoke_runs(name), image, tmp_path)


@pytest.mark.parametrize("check", OWN_RUN_CHECKS, ids=lambda c: c.name)
@pytest.mark.parametrize("name", FAMILIES)
def test_family_own_runs(name, check, tmp_path, home):
    run_check(check, REGISTRY, name, tmp_path)
