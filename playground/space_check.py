"""Will this repository run as a Hugging Face Space? ``playground space-check`` (``./dev space-check``).

A Space installs ``requirements.txt`` (never ``pyproject.toml``) plus the Gradio named by the README's front matter
(``sdk_version``), runs ``app_file`` on ``python_version``, and on ZeroGPU only with the torch releases ZeroGPU
lists. The **static** checks (run by the test suite) read the files: the front matter, the pins, the import order
of ``app.py`` and the size of every shipped file. The **build** check does what a Space does: a fresh virtual
environment from ``requirements.txt`` and ``gradio==sdk_version`` only, then, offline, the app is built and one
task of every family runs on its shipped weights through the functions ZeroGPU would call.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .checkpoint import TRAIN_FILE  # optimiser and RNG state: resuming is for runs, never shipped

# ZeroGPU's supported releases (hub-docs spaces-zerogpu.md, see shared/reference/gradio.md §2.3).
ZEROGPU_PYTHON = ("3.10", "3.12")
ZEROGPU_TORCH = ("2.8.0", "2.9.1", "2.10.0", "2.11.0")
TORCHVISION_FOR = {"2.8.0": "0.23.0", "2.9.1": "0.24.1", "2.10.0": "0.25.0", "2.11.0": "0.26.0"}
MAX_FILE_MB = 10  # larger files need Git LFS/Xet to reach the Hub; shipped weights stay below it
# All of weights/ together: every clone and Space upload carries it. ~57 MB shipped today (inference files only).
WEIGHTS_BUDGET_MB = 60
NEEDED = ("torch", "torchvision", "spaces", "safetensors", "pluggy", "timm", "torchmetrics")


@dataclass(frozen=True)
class Finding:
    ok: bool
    check: str
    detail: str


def front_matter(readme: Path) -> dict[str, str]:
    """The README's YAML front matter (the Space's header), values as text."""
    from huggingface_hub import metadata_load

    return {k: str(v) for k, v in (metadata_load(readme) or {}).items()}


def requirement_pins(requirements: Path) -> dict[str, str]:
    """``name: specifier`` for every line of requirements.txt (``==2.9.1``, ``>=1.5`` or ``""``)."""
    pins = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            m = re.match(r"([A-Za-z0-9_.\-\[\]]+)\s*(.*)", line)
            if m:
                pins[m.group(1).lower()] = m.group(2).strip()
    return pins


def _imports_in_order(app: Path) -> list[str]:
    """Top-level module names app.py imports, in order (``with suppress(ImportError): import spaces`` included)."""
    names = []
    for node in ast.walk(ast.parse(app.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [(node.lineno, a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append((node.lineno, node.module.split(".")[0]))
    return [n for _, n in sorted(names)]


def static_findings(root: Path, installed_gradio: str | None = None) -> list[Finding]:
    """Everything that can be checked by reading the repository."""
    out: list[Finding] = []
    fm = front_matter(root / "README.md")
    pins = requirement_pins(root / "requirements.txt")
    out.append(Finding(fm.get("sdk") == "gradio", "sdk", f"front matter sdk: {fm.get('sdk')!r} (want 'gradio')"))
    sdk = fm.get("sdk_version", "")
    if installed_gradio is None:
        try:
            from importlib.metadata import version

            installed_gradio = version("gradio")
        except Exception:  # noqa: BLE001 - no gradio here: nothing to compare with
            installed_gradio = None
    if installed_gradio:
        out.append(Finding(sdk == installed_gradio, "sdk_version",
                           f"front matter sdk_version {sdk!r}, the Gradio the tests ran with {installed_gradio!r}"))
    gradio_pin = pins.get("gradio")
    out.append(Finding(gradio_pin in (None, f"=={sdk}"), "gradio pin",
                       "requirements.txt leaves gradio to sdk_version" if gradio_pin is None else
                       f"requirements.txt pins gradio {gradio_pin!r}; the Space installs {sdk!r}"))
    py = fm.get("python_version", "3.10")
    out.append(Finding(py in ZEROGPU_PYTHON, "python_version", f"{py!r} (ZeroGPU: {', '.join(ZEROGPU_PYTHON)})"))
    torch_pin = pins.get("torch", "").removeprefix("==")
    out.append(Finding(torch_pin in ZEROGPU_TORCH, "torch pin",
                       f"requirements.txt torch=={torch_pin or '?'} (ZeroGPU: {', '.join(ZEROGPU_TORCH)})"))
    tv = pins.get("torchvision", "").removeprefix("==")
    want = TORCHVISION_FOR.get(torch_pin)
    out.append(Finding(want is not None and tv == want, "torchvision pin",
                       f"torchvision=={tv or '?'} beside torch {torch_pin or '?'} (its pair: {want})"))
    missing = [n for n in NEEDED if n not in pins]
    out.append(Finding(not missing, "requirements", "missing: " + ", ".join(missing) if missing else
                       f"{len(pins)} requirements, all of {', '.join(NEEDED)} among them"))
    app = root / fm.get("app_file", "app.py")
    order = _imports_in_order(app) if app.exists() else []
    heavy = [i for i, n in enumerate(order) if n in ("torch", "playground", "plugins", "gradio")]
    spaces_at = order.index("spaces") if "spaces" in order else None
    out.append(Finding(spaces_at is not None and (not heavy or spaces_at < heavy[0]), "import order",
                       f"{app.name} imports spaces before torch, gradio and the playground" if spaces_at is not None
                       else f"{app.name} does not import spaces"))
    out.extend(weights_findings(root / "weights"))
    return out


def weights_findings(weights: Path) -> list[Finding]:
    """The shipped weights: each file under the plain-push cap, all of them within the budget, no training state."""
    sizes = {p: p.stat().st_size for p in weights.rglob("*") if p.is_file()}
    big = [(p, s) for p, s in sizes.items() if s > MAX_FILE_MB * 2**20]
    total = sum(sizes.values()) / 2**20
    state = sorted(str(p.relative_to(weights)) for p in sizes if p.name == TRAIN_FILE)
    return [
        Finding(not big, "weights size",
                "; ".join(f"{p.relative_to(weights.parent)} is {s / 2**20:.1f} MB" for p, s in big) if big else
                f"every shipped file under {MAX_FILE_MB} MB"),
        Finding(total <= WEIGHTS_BUDGET_MB, "weights budget",
                f"weights/ holds {total:.1f} MB of a {WEIGHTS_BUDGET_MB} MB budget" + (
                    "" if total <= WEIGHTS_BUDGET_MB else ": ship fewer or smaller models")),
        Finding(not state, "weights inference-only",
                f"training state shipped (resuming is for runs; delete it): {', '.join(state[:5])}" if state else
                f"no {TRAIN_FILE} shipped"),
    ]


# What runs inside the Space-like environment: the app as the Space starts it, then one task per family.
PROBE = r"""
import json, os, sys, time
t0 = time.perf_counter()
import app  # the Space's app_file: spaces first, then the app (built at import, as `gradio app.py` does)
built = time.perf_counter() - t0
from playground import zerogpu
from playground.data import DataSpec, load_dataset
from playground.params import ImageInput, param_specs
from playground.registry import get_registry
from playground.weights import list_weights
reg = get_registry()
key = zerogpu.register(reg)
from playground.images import tensor_to_pil
digit = tensor_to_pil(load_dataset(reg.datasets, DataSpec("digits", split="test")).float_images()[0])  # an upload
results = {}
for name, fam in reg.families.items():
    refs = [w.ref for w in list_weights(name)]
    if not refs or not fam.tasks:
        results[name] = "no shipped weights"
        continue
    task = fam.tasks[0]
    values = {s.name: digit for s in param_specs(task.inputs) if s.type is ImageInput and not s.optional}
    t = time.perf_counter()
    try:
        zerogpu.task_on_gpu(key, name, refs[0], task.name, values)
        results[name] = f"ok: {task.name} on {refs[0]} in {time.perf_counter() - t:.2f} s"
    except Exception as exc:
        results[name] = f"FAILED: {task.name} on {refs[0]}: {type(exc).__name__}: {exc}"
print(json.dumps({"app_built_s": round(built, 2), "families": results}))
"""


def build_findings(root: Path, venv: Path, reuse: bool = False) -> list[Finding]:
    """A fresh environment as a Space builds it (with this Python), then the app and one task per family in it,
    offline."""
    fm = front_matter(root / "README.md")
    out: list[Finding] = []
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    if py != fm.get("python_version"):
        out.append(Finding(True, "python", f"built with Python {py}; the Space uses {fm.get('python_version')} "
                           "(this machine has no other)"))
    pip = venv / "bin" / "pip"
    t0 = time.perf_counter()
    if not (reuse and pip.exists()):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        res = subprocess.run([str(pip), "install", "-q", "-r", str(root / "requirements.txt"),
                              f"gradio=={fm.get('sdk_version')}"], capture_output=True, text=True)
        if res.returncode != 0:
            return [*out, Finding(False, "install", res.stderr[-2000:])]
    out.append(Finding(True, "install", f"requirements.txt + gradio=={fm.get('sdk_version')} in "
                       f"{time.perf_counter() - t0:.0f} s"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "PLAYGROUND_OFFLINE": "1",
           "PYTHONPATH": str(root)}
    env.pop("SPACES_ZERO_GPU", None)
    t0 = time.perf_counter()
    res = subprocess.run([str(venv / "bin" / "python"), "-c", PROBE], cwd=root, env=env, capture_output=True,
                         text=True, timeout=1800)
    if res.returncode != 0:
        return [*out, Finding(False, "app", res.stderr[-3000:])]
    probe = json.loads(res.stdout.strip().splitlines()[-1])
    took = time.perf_counter() - t0
    out.append(Finding(True, "cold start", f"app built in {probe['app_built_s']} s (the whole probe, one task per "
                       f"family included: {took:.0f} s)"))
    for name, text in probe["families"].items():
        out.append(Finding(not text.startswith("FAILED"), f"family {name}", text))
    return out


def report(findings: list[Finding]) -> str:
    return "\n".join(f"{'ok  ' if f.ok else 'FAIL'}  {f.check:<16} {f.detail}" for f in findings)
