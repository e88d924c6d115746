"""The Plugins tab: what loaded, what failed and why, and how to add one."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr
import pandas as pd

HOW_TO = """**Add a model family**: `playground new-plugin my_model --dir my_plugins` writes a working family (and its
test) to start from; `playground check-plugin my_plugins` runs the contract's checks on it; start the app with
`python app.py --plugins-dir my_plugins` (or set `PLAYGROUND_PLUGINS_DIR`). A plugin registers families with
`@playground.hookimpl def register_models(register): register(MyFamily())`; its config dataclass becomes the
Train form and its declared tasks become tabs. Skip a plugin with `PLAYGROUND_DISABLE_PLUGINS=name` or by
renaming it to `name.py.disabled`. The guide: `docs/plugins.md`."""
REFRESH_SECONDS = 5  # failures at run time (a plugin that raises in train or a task) appear without a click


def failures_markdown(registry: Any) -> str:
    if not registry.failures:
        return "No plugin failures."
    parts = []
    for f in registry.failures:
        tb = html.escape(f.traceback.strip()) if f.traceback else "(no traceback)"
        parts.append(f"<details><summary><b>{html.escape(f.plugin)}</b> · {f.stage} · "
                     f"{html.escape(f.message)}</summary>\n\n<code>{html.escape(f.file)}</code>\n\n"
                     f"<pre>{tb}</pre></details>")
    return "\n\n".join(parts)


def _frame(registry: Any) -> pd.DataFrame:
    # The file path lives in the failure details below; the table stays readable.
    cols = ["plugin", "status", "provides", "origin", "last error"]
    return pd.DataFrame([{c: r[c] for c in cols} for r in registry.status_rows()], columns=cols)


def build_plugins_tab(registry: Any) -> None:
    gr.Markdown(HOW_TO)
    table = gr.Dataframe(_frame(registry), label="Plugins", interactive=False, wrap=True, elem_id="plugins-table",
                         column_widths=["12%", "10%", "38%", "10%", "30%"])
    fails = gr.Markdown(failures_markdown(registry), elem_id="plugins-failures")

    def status() -> tuple:
        return _frame(registry), failures_markdown(registry)

    def if_changed(seen: int) -> tuple:
        count = len(registry.failures)
        if count == seen:
            return gr.skip(), gr.skip(), seen
        return (*status(), count)

    gr.Button("Refresh", size="sm").click(status, None, [table, fails], api_name="plugins_status")
    seen = gr.State(len(registry.failures))
    gr.Timer(REFRESH_SECONDS).tick(if_changed, seen, [table, fails, seen], show_progress="hidden",
                                   api_visibility="private", concurrency_limit=None)
