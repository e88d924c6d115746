"""The benchmarks run: a plugin author's `playground bench` on their own family, and `./dev bench`'s program."""

from pathlib import Path

import pytest

from playground import registry as registry_module
from playground.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "plugins"


@pytest.fixture(autouse=True)
def fresh_registry():
    registry_module.set_registry(None)
    yield
    registry_module.set_registry(None)


def _figures(text: str) -> dict[str, str]:
    return dict(line.split(None, 1) for line in text.splitlines() if line.strip() and " " in line.strip())


def test_bench_measures_an_outside_family_against_the_plain_loop(capsys, home):
    """A plugin family from --plugins-dir with no weights yet: the training figures and a note, not an error."""
    assert main(["--plugins-dir", str(EXAMPLES), "bench", "--family", "linear_ae", "--steps", "20", "--batch-size",
                 "16", "--repeats", "2"]) == 0
    fig = _figures(capsys.readouterr().out)
    assert float(fig["engine_steps_per_s"]) > 0 and float(fig["reference_steps_per_s"]) > 0
    assert float(fig["ratio_engine_vs_reference"]) == pytest.approx(
        float(fig["engine_steps_per_s"]) / float(fig["reference_steps_per_s"]), abs=1e-3)  # printed to 3 places
    assert fig["latency"].startswith("skipped: no weights for linear_ae")


@pytest.mark.slow
def test_bench_latency_and_memory_guard_on_shipped_weights(capsys):
    """Latency on the family's first weights, and the memory guard's estimate next to a real step measured in a
    fresh process (the plumbing: both figures and their ratio; how close the estimate must be is the guard's own
    test in test_reliability — the ratio moves with the allocator, 0.9 to 1.3 measured at batch 1024)."""
    assert main(["bench", "--family", "autoencoder", "--no-training", "--repeats", "2", "--memory", "1024"]) == 0
    fig = _figures(capsys.readouterr().out)
    assert float(fig["inprocess_grid64_ms_median"]) > 0 and float(fig["sample64_ms_median"]) > 0
    estimate, measured = float(fig["memory_estimate_mib"]), float(fig["memory_measured_mib"])
    assert estimate > 100 and measured > 100  # a batch of 1,024 images through a conv autoencoder: hundreds of MB
    assert float(fig["memory_estimate_over_measured"]) == pytest.approx(estimate / measured, abs=2e-3)


def test_dev_bench_program_parses_every_option(monkeypatch):
    """`./dev bench` is `python -m benchmarks` from the repository root: its modules import and its options parse."""
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks.__main__ import parser

    text = parser().format_help()
    for flag in ("--recipe", "--lab-browser", "--overview", "--concurrency", "--processes", "--memory", "--tasks",
                 "--soak"):
        assert flag in text
    a = parser().parse_args(["--family", "gan2d", "--lab-browser", "15", "--recipe", "x:lr=0.001", "--skip-app"])
    assert a.lab_browser == 15 and a.recipe == ["x:lr=0.001"] and a.skip_app
