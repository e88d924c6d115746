import os

# Before gradio/huggingface_hub/torchvision are imported anywhere: no network, no telemetry.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["PLAYGROUND_OFFLINE"] = "1"
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

import socket  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from playground.data import DataSpec  # noqa: E402
from playground.data.builtin import load_digits  # noqa: E402
from playground.images import tensor_to_pil  # noqa: E402
from playground.registry import Registry  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


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
