"""Generative Model Playground: `python app.py [--plugins-dir DIR] [--port N] [--share] [--allow-folders ROOT]`.

Also the Hugging Face Space entry point (``app_file``).
"""

# `spaces` must come before torch on a ZeroGPU Space; it is optional everywhere else.
import contextlib

with contextlib.suppress(ImportError):
    import spaces  # noqa: F401

import argparse
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from playground.errors import PlaygroundError  # noqa: E402
from playground.registry import get_registry, plugin_dirs_from_env  # noqa: E402
from playground.ui.app import build_app, launch  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description="Generative Model Playground")
    p.add_argument("--plugins-dir", action="append", default=[], help="extra plugins folder (repeatable)")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--share", action="store_true", help="ask Gradio for a public link (uses the network)")
    p.add_argument("--allow-folders", action="append", default=[], metavar="ROOT",
                   help="let web visitors train on folder:PATH datasets under ROOT (repeatable; default: none)")
    a = p.parse_args()
    try:
        launch(get_registry(plugin_dirs_from_env() + a.plugins_dir), port=a.port, share=a.share,
               allow_folders=a.allow_folders)
    except PlaygroundError as exc:  # a start-up refusal (e.g. an unusable PLAYGROUND_HOME): the message, no traceback
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
else:
    demo = build_app(get_registry())  # for `gradio app.py` reload mode and for tests
