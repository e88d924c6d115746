import os

# Before gradio/huggingface_hub/torchvision are imported anywhere: no network, no telemetry.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["PLAYGROUND_OFFLINE"] = "1"
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
# The memory guard's probe (a second model and two steps before each run of micro-batch > 16) is off in tests; the
# guard's own tests turn it on (the memory_guard fixture).
os.environ["PLAYGROUND_MEMORY_GUARD"] = "0"

import functools  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import playground.ui.app  # noqa: E402
from playground import conformance  # noqa: E402
from playground.data import DataSpec  # noqa: E402
from playground.data.builtin import load_digits  # noqa: E402
from playground.images import tensor_to_pil  # noqa: E402
from playground.registry import Registry  # noqa: E402

# PLAYGROUND_TEST_THREADS=1 runs the suite single-threaded (the suite must pass with 1 and with 2 threads).
torch.set_num_threads(int(os.environ.get("PLAYGROUND_TEST_THREADS", max(1, min(2, os.cpu_count() or 1)))))

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "plugins"
CONTRACT = Path(__file__).resolve().parent / "families"  # small families for what contract 2 added


# -- tiers ------------------------------------------------------------------------------------------------------------
# `pytest -m "not slow"` is the fast tier a developer runs while working; CI runs everything. A test that starts a
# server, a browser or another process, or builds the whole app, belongs to the slow tier: unmarked, it fails here
# (checked as it happens, so a fixture that does it for the test counts too).
_running = {"slow": True}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _running["slow"] = item.get_closest_marker("slow") is not None


def refuse_in_fast_tier(what: str) -> None:
    if not _running["slow"]:
        raise AssertionError(f"{what} in a test not marked slow: mark it @pytest.mark.slow (the fast tier starts no "
                             "servers, browsers or processes and builds no whole app)")


def _guarded(what: str, real):
    @functools.wraps(real)
    def guarded(*args, **kwargs):
        refuse_in_fast_tier(what)
        return real(*args, **kwargs)

    return guarded


subprocess.Popen.__init__ = _guarded("a subprocess (or browser)", subprocess.Popen.__init__)
gradio.Blocks.launch = _guarded("a Gradio server", gradio.Blocks.launch)
playground.ui.app.build_app = _guarded("a whole-app build", playground.ui.app.build_app)


@pytest.fixture
def memory_guard(monkeypatch):
    """The memory guard on, as outside the tests."""
    monkeypatch.setenv("PLAYGROUND_MEMORY_GUARD", "1")


@functools.cache
def conformance_registry() -> Registry:
    """Built-in families, the documented example plugins and the contract's test families: all must conform."""
    return Registry([EXAMPLES, CONTRACT])


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory):
    """One smoke run per family per test run (``conformance.train_smoke``: the family's smoke config, seed 0), made
    when a test first asks for it, shared by the conformance checks and the family's own tests; a failed run is kept
    as its error, so only that family's tests fail."""
    runs: dict = {}

    def get(name: str) -> conformance.Trained:
        if name not in runs:
            try:
                runs[name] = conformance.train_smoke(conformance_registry(), name, tmp_path_factory.mktemp(name))
            except Exception as exc:  # noqa: BLE001 - only this family's tests fail
                runs[name] = exc
        if isinstance(runs[name], Exception):
            pytest.fail(f"{name}: the smoke run failed: {runs[name]}")
        return runs[name]

    return get


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to reach a non-local host fails the test loudly."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1", "0.0.0.0") and "/" not in host:
            raise AssertionError(f"test tried to reach the network: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private PLAYGROUND_HOME so runs and imports never touch the user's."""
    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="session")
def registry():
    reg = Registry()
    assert not reg.failures, reg.failures
    return reg


@pytest.fixture(scope="session")
def digit_png(tmp_path_factory) -> Path:
    """A real test-split digit as a PNG, upscaled like a user's upload."""
    data = load_digits(DataSpec("digits", split="test"))
    path = tmp_path_factory.mktemp("img") / "digit.png"
    tensor_to_pil(data.float_images()[0], scale=4).save(path)
    return path


def write_plugin(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(body)
    return path


def rgb(x: torch.Tensor) -> np.ndarray:
    return np.asarray(tensor_to_pil(x))
