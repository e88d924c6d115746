"""The Space check's static half: this repository passes, and each rule fails on a copy broken in its way."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from playground.space_check import static_findings

ROOT = Path(__file__).resolve().parents[1]


def test_this_repository_is_ready_for_a_space():
    findings = static_findings(ROOT)
    assert all(f.ok for f in findings), [f for f in findings if not f.ok]
    assert {f.check for f in findings} >= {"sdk_version", "python_version", "torch pin", "import order",
                                          "weights size", "weights budget", "weights inference-only"}


@pytest.fixture
def copy(tmp_path):
    for name in ("README.md", "requirements.txt", "app.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "small.safetensors").write_bytes(b"x" * 100)
    return tmp_path


def _failed(root: Path) -> set[str]:
    return {f.check for f in static_findings(root, installed_gradio="6.31.0") if not f.ok}


@pytest.mark.parametrize("file, old, new, check", [
    ("README.md", "sdk_version: 6.31.0", "sdk_version: 6.20.0", "sdk_version"),
    ("README.md", 'python_version: "3.12"', 'python_version: "3.11"', "python_version"),
    ("requirements.txt", "torch==2.9.1", "torch==2.14.1", "torch pin"),
    ("requirements.txt", "torchvision==0.24.1", "torchvision==0.29.1", "torchvision pin"),
    ("requirements.txt", "\nspaces\n", "\n", "requirements"),
    ("requirements.txt", "pluggy>=1.5", "pluggy>=1.5\ngradio==6.0.0", "gradio pin"),
    ("app.py", "import contextlib\n", "import contextlib\nimport torch\n", "import order"),
])
def test_each_rule_catches_its_mistake(copy, file, old, new, check):
    assert _failed(copy) == set()
    text = (copy / file).read_text()
    assert old in text
    (copy / file).write_text(text.replace(old, new, 1))
    failed = _failed(copy)
    assert check in failed and failed <= {check, "torchvision pin"}  # an unsupported torch has no known pair either


def test_a_shipped_file_too_large_for_a_plain_push_fails(copy):
    (copy / "weights" / "big.safetensors").write_bytes(b"\0" * (11 * 2**20))
    assert _failed(copy) == {"weights size"}


def test_weights_over_the_total_budget_fail(copy):
    """Each file under the cap, together over the budget."""
    from playground.space_check import MAX_FILE_MB, WEIGHTS_BUDGET_MB

    for i in range(WEIGHTS_BUDGET_MB // (MAX_FILE_MB - 1) + 1):
        (copy / "weights" / f"part{i}.safetensors").write_bytes(b"\0" * ((MAX_FILE_MB - 1) * 2**20))
    assert _failed(copy) == {"weights budget"}


def test_shipped_training_state_fails(copy):
    (copy / "weights" / "gan" / "x").mkdir(parents=True)
    (copy / "weights" / "gan" / "x" / "training_state.safetensors").write_bytes(b"x" * 100)
    assert _failed(copy) == {"weights inference-only"}
