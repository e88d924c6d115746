"""The plugin author's guide runs: every ```python block of docs/plugins.md, in order, in one namespace (as a reader
would paste them), in a scratch folder. A guide whose snippets no longer work fails here."""

import re
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, code) of each ```python block."""
    return [(text[:m.start()].count("\n") + 2, m.group(1)) for m in re.finditer(r"```python\n(.*?)```", text, re.S)]


def test_the_guide_has_runnable_snippets_for_each_topic():
    text = GUIDE.read_text()
    code = "\n".join(c for _, c in python_blocks(text))
    for topic in ("configure_optimizers", "full=True", "pg.Parent(", "labels=None", "load(pg.DataSpec",
                  "animation=", "pg.Ellipse(", "pg.Polyline(", "register_datasets", "check_family", "state.step",
                  'pg.Stream("B"'):
        assert topic in code, f"no runnable snippet shows {topic}"


def test_every_snippet_in_the_guide_runs(tmp_path, monkeypatch, home):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "guide"}
    for line, code in python_blocks(GUIDE.read_text()):
        try:
            exec(compile(code, f"{GUIDE.name}:{line}", "exec"), namespace)  # noqa: S102 - our own documentation
        except Exception as exc:
            pytest.fail(f"docs/plugins.md block at line {line} failed: {type(exc).__name__}: {exc}")
