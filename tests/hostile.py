"""A bad-input battery: every named endpoint of a running app, attacked one parameter at a time with hostile
values chosen from the parameter's component (numbers get fractions, NaN, infinities and values past their
bounds; pickers get unknown choices and server paths; images get files that are not images; ...), while every
other parameter keeps its default.

Each answer is one of four verdicts:

* ``clear``: refused with a message that names the parameter (its label or field name) or the value given;
* ``vague``: refused, but the message names neither, or reads like a raw Python exception;
* ``silent``: accepted (every value sent here must be refused);
* ``crash``: an error the app did not mean to raise (the test server hides those messages, so only deliberate
  refusals come back with text), or no answer at all.

Walking ``demo.fns`` rather than a list of endpoints means a new family (or plugin) is attacked without new test
code. Run it against a server with ``show_error=False``; ``python tests/hostile.py`` prints the table for the
built-in families.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VERDICTS = ("clear", "vague", "silent", "crash")
UNEXPECTED = "Unexpected error"  # the prefix playground.ui.common gives errors nobody meant to raise
RAW_EXCEPTION = re.compile(r"Traceback|invalid literal|KeyError|object has no attribute|cannot convert|"
                           r"unsupported operand|NoneType|^\w+Error: ", re.IGNORECASE)
HIDDEN = "has not enabled verbose error reporting"  # gradio_client's text when the server hid the message


@dataclass(frozen=True)
class Attack:
    endpoint: str
    position: int  # among the endpoint's API parameters (State inputs are not parameters)
    label: str
    what: str
    value: Any


@dataclass(frozen=True)
class Outcome:
    attack: Attack
    verdict: str
    message: str


def hostile_files(folder: Path) -> dict[str, Path]:
    """Files the attacks upload: broken images and broken weights."""
    import json

    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    files = {"not-an-image.png": b"this is text, not a PNG", "empty.png": b"",
             "junk.safetensors": b"\x00\x01 not a safetensors file"}
    out = {}
    for name, data in files.items():
        (folder / name).write_bytes(data)
        out[name] = folder / name
    # Real checkpoint metadata with one part broken, as a hand-edited or foreign file would have it.
    from playground.checkpoint import FORMAT, read_metadata, read_tensors
    from playground.weights import resolve

    source = resolve("autoencoder", "digits") / "model.safetensors"
    meta, tensors = read_metadata(source), read_tensors(source)
    no_info = {k: v for k, v in meta.items() if k != "info"}
    bad_step = {**meta, "step": "twelve"}
    for name, m in (("no-info.safetensors", no_info), ("step-not-a-number.safetensors", bad_step)):
        save_file(tensors, str(folder / name), metadata={"format": FORMAT, "playground": json.dumps(m)})
    out["no-info.safetensors"] = folder / "no-info.safetensors"
    out["step-not-a-number.safetensors"] = folder / "step-not-a-number.safetensors"
    return out


def _public_endpoints(demo: Any) -> list[tuple[str, list[Any]]]:
    import gradio as gr

    out = []
    for fn in demo.fns.values():
        if not fn.api_name or getattr(fn, "api_visibility", "public") != "public":
            continue
        params = [c for c in fn.inputs if not isinstance(c, gr.State)]
        out.append((f"/{fn.api_name}", params))
    return out


def _int_like(comp: Any) -> bool:
    import gradio as gr

    if isinstance(comp, gr.Slider):
        return float(comp.step or 0) == 1.0 and float(comp.minimum or 0).is_integer()
    return getattr(comp, "precision", None) == 0


def attacks_for(comp: Any, files: dict[str, Path]) -> list[tuple[str, Any]]:
    """The hostile values for one component, from its kind and declared bounds."""
    import gradio as gr
    from gradio_client import handle_file

    if isinstance(comp, (gr.Number, gr.Slider)):
        integer = _int_like(comp)
        big = 1e12 if integer else 1e300
        hi = comp.maximum + 1 if comp.maximum is not None else big
        lo = comp.minimum - 1 if comp.minimum is not None else -big
        # JSON has no NaN or infinity: API clients send them as text, which a number box must refuse too.
        out = [("NaN", "nan"), ("infinity", "inf"), ("above its maximum", hi), ("below its minimum", lo),
               ("text", "abc")]
        return ([("a fraction", 2.5)] if integer else []) + out
    if isinstance(comp, gr.Dropdown):
        # A fixed list is checked by Gradio against its choices: one stranger says as much as four.
        bad = (["no-such-choice", "../../../../etc/passwd", "/etc/passwd", "folder:/etc"] if comp.allow_custom_value
               else ["no-such-choice"])
        return [(f"{v!r}", [v] if comp.multiselect else v) for v in bad]
    if isinstance(comp, gr.Checkbox):
        return [("text", "maybe")]
    if isinstance(comp, gr.Textbox):
        if comp.type == "password":  # any text may be a token
            return []
        return [("a server path", "../../../../etc/passwd"), ("a folder", "folder:/etc"), ("huge text", "x" * 20_000)]
    if isinstance(comp, gr.ImageEditor):
        if "optional" in str(comp.label or "").lower():  # an optional image left empty is no image: accepted
            return []
        return [("an empty sketch", {"background": None, "layers": [], "composite": None})]
    if isinstance(comp, gr.Image):
        return [(n, handle_file(str(files[n]))) for n in ("not-an-image.png", "empty.png")]
    if isinstance(comp, gr.File):
        return [(n, handle_file(str(files[n]))) for n in
                ("junk.safetensors", "no-info.safetensors", "step-not-a-number.safetensors")]
    return []


def base_value(comp: Any, image: Path) -> Any:
    """A valid value: the component's default, a text box's placeholder when it starts empty (the placeholder is
    an example of a valid entry), a real digit for image uploads."""
    import gradio as gr
    from gradio_client import handle_file

    if isinstance(comp, (gr.ImageEditor, gr.File)):
        return None
    if isinstance(comp, gr.Image):
        return handle_file(str(image))
    if isinstance(comp, gr.Textbox) and not comp.value and comp.placeholder:
        return comp.placeholder
    return comp.value


def plan(demo: Any, files: dict[str, Path], image: Path) -> list[tuple[Attack, list[Any]]]:
    """Every attack with the full argument list it is sent with."""
    import gradio as gr

    out = []
    for endpoint, params in _public_endpoints(demo):
        base = [base_value(c, image) for c in params]
        for i, comp in enumerate(params):
            label = comp.label or ""
            for what, value in attacks_for(comp, files):
                args = list(base)
                args[i] = value
                if isinstance(comp, gr.ImageEditor) and i and isinstance(params[i - 1], gr.Image):
                    args[i - 1] = None  # the upload wins over the sketch: attack the sketch alone
                out.append((Attack(endpoint, i, label, what, value), args))
    return out


def _names(attack: Attack) -> list[str]:
    """What a clear message names: the label (without a parenthesised hint) or the value sent."""
    out = [attack.label.lower(), attack.label.split(" (")[0].lower()]
    value = attack.value
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, dict) and "path" in value:
        out.append(Path(value["path"]).name.lower())
    elif isinstance(value, (int, float, str)):
        out.append(str(value).lower()[:20])
    return [n.replace("_", " ") for n in out if n]


def judge(attack: Attack, error: BaseException | None) -> Outcome:
    from gradio_client.exceptions import AppError

    if error is None:
        return Outcome(attack, "silent", "")
    if not isinstance(error, AppError):
        return Outcome(attack, "crash", f"{type(error).__name__}: {error}")
    msg = str(getattr(error, "message", None) or error)
    if msg.startswith(UNEXPECTED) or HIDDEN in msg or not msg.strip():
        return Outcome(attack, "crash", msg)
    text = msg.lower().replace("_", " ")
    if RAW_EXCEPTION.search(msg) or not any(n in text for n in _names(attack)):
        return Outcome(attack, "vague", msg)
    return Outcome(attack, "clear", msg)


def run_battery(demo: Any, client: Any, files: dict[str, Path], image: Path,
                after_silent: Any = None, workers: int = 4) -> list[Outcome]:
    """Send every attack, the endpoints shared among ``workers`` clients of their own (the calls wait on the
    network more than on the CPU); ``after_silent(endpoint)`` undoes what an accepted one started (e.g. a training
    job). Outcomes come back in the plan's order."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    attacks = plan(demo, files, image)
    by_endpoint: dict[str, list[int]] = {}
    for i, (attack, _) in enumerate(attacks):
        by_endpoint.setdefault(attack.endpoint, []).append(i)
    outcomes: list[Outcome | None] = [None] * len(attacks)
    local = threading.local()

    def attack_endpoint(indices: list[int]) -> None:
        if not hasattr(local, "client"):
            local.client = Client(client.src, verbose=False, download_files=False, analytics_enabled=False)
        for i in indices:
            attack, args = attacks[i]
            try:
                local.client.predict(*args, api_name=attack.endpoint)
                error = None
            except Exception as exc:  # noqa: BLE001 - every failure is a verdict
                error = exc
            out = judge(attack, error)
            if out.verdict == "silent" and after_silent is not None:
                after_silent(attack.endpoint)
            outcomes[i] = out

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(attack_endpoint, by_endpoint.values()))
    return [o for o in outcomes if o is not None]


def summary(outcomes: list[Outcome]) -> str:
    counts = Counter(o.verdict for o in outcomes)
    lines = [f"{len(outcomes)} hostile calls on {len({o.attack.endpoint for o in outcomes})} endpoints: "
             + ", ".join(f"{v} {counts.get(v, 0)}" for v in VERDICTS)]
    for o in outcomes:
        if o.verdict != "clear":
            a = o.attack
            lines.append(f"  {o.verdict:6} {a.endpoint} [{a.label}] {a.what}: {o.message[:160]!r}")
    return "\n".join(lines)


if __name__ == "__main__":  # the table for the built-in families, on a private home
    import tempfile

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tmp = Path(tempfile.mkdtemp())
    os.environ["PLAYGROUND_HOME"] = str(tmp / "home")
    from gradio_client import Client

    from playground.data import DataSpec
    from playground.data.builtin import load_digits
    from playground.images import tensor_to_pil
    from playground.registry import Registry
    from playground.ui.app import LAUNCH_OPTIONS, build_app

    digit = tmp / "digit.png"
    tensor_to_pil(load_digits(DataSpec("digits", split="test")).float_images()[0], scale=4).save(digit)
    demo = build_app(Registry())
    demo.queue()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **{**LAUNCH_OPTIONS, "show_error": False})
    client = Client(url, verbose=False, download_files=False, analytics_enabled=False)

    def stop_jobs(_: str) -> None:
        job = demo.jobs.running()
        if job is not None:
            job.trainer.stop()
            job.thread.join(60)

    print(summary(run_battery(demo, client, hostile_files(tmp / "files"), digit, stop_jobs)))
    demo.close()
