"""The Space's requirements.txt must carry every runtime dependency of pyproject.toml."""

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[; ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_requirements_txt_covers_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    reqs = {_name(line) for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")}
    missing = {_name(d) for d in deps} - reqs - {"gradio"}  # gradio comes from the Space's sdk_version
    assert not missing, missing


def test_readme_front_matter_pins_the_same_gradio():
    readme = (ROOT / "README.md").read_text()
    sdk = re.search(r"^sdk_version:\s*([\d.]+)", readme, re.M).group(1)
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    gradio = next(d for d in deps if _name(d) == "gradio")
    lo = re.search(r">=([\d.]+)", gradio).group(1)
    assert tuple(map(int, sdk.split("."))) >= tuple(map(int, lo.split(".")))
    assert "app_file: app.py" in readme
