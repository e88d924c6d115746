"""Build the Gradio app from the registry: the Overview, one tab per family, and Plugins."""

from __future__ import annotations

import traceback
from typing import Any

import gradio as gr

from ..data import FolderAccess
from ..interrupts import stop_on_signals
from ..jobs import TrainingJobs
from ..weights import check_home
from .family_tab import FamilyTab
from .overview_tab import build_overview_tab
from .plugins_tab import build_plugins_tab
from .visitor import remember, visitor_state

CSS = """
#plugins-failures pre { max-height: 320px; overflow: auto; font-size: 12px; }
/* Table headers in the body font, a size down, broken between words: in the monospace default, narrow number
   columns wrapped their headers letter by letter ("precis/ion", "densit/y"). */
th .header.text { font-family: var(--font); font-size: 12px; word-break: normal; overflow-wrap: break-word; }
"""
DELETE_CACHE = (600, 1800)  # (how often, older than what), in seconds
TAB_PARAM = "tab"  # ?tab=vae opens the VAE tab: each tab has a link (the address bar follows the open tab)
HEAD = ("<script>window.playgroundLinkedTab = new URLSearchParams(window.location.search)"
        f'.get("{TAB_PARAM}");</script>')
# Shared with the tests so they launch exactly like the app.
LAUNCH_OPTIONS: dict[str, Any] = dict(ssr_mode=False, max_file_size="10mb", theme=gr.themes.Soft(), css=CSS,
                                      head=HEAD, show_error=True, footer_links=["api", "settings"])


def link_tab(tab: gr.Tab, tab_id: str) -> None:
    """Opening ``tab`` writes ``?tab=ID`` into the address bar (no reload), so the link can be copied and shared."""
    tab.select(None, None, None, js=f"""() => {{ const u = new URL(window.location.href);
        u.searchParams.set("{TAB_PARAM}", "{tab_id}"); window.history.replaceState(null, "", u); }}""",
               api_visibility="private", queue=False)


def build_family_tab(registry: Any, family: Any) -> FamilyTab:
    """One family's tab on its own, in-process (no server, no browser): what ``check-plugin`` builds to catch a
    declaration the UI cannot draw before the app would show the tab as broken."""
    with gr.Blocks(), gr.Tab(family.title) as tab:
        panel = FamilyTab(registry, family, TrainingJobs(registry), FolderAccess())
        panel.build(tab)
    return panel


def build_app(registry: Any, folders: FolderAccess | None = None) -> gr.Blocks:
    """``folders``: which ``folder:PATH`` datasets web visitors may name (default: the roots in
    PLAYGROUND_ALLOW_FOLDERS, none when unset)."""
    folders = folders if folders is not None else FolderAccess.from_env()
    jobs = TrainingJobs(registry)
    # Every 10 minutes Gradio deletes the files it cached for responses (galleries, GIFs, uploads) that are more
    # than 30 minutes old: the cache holds about half an hour of use, not the whole uptime.
    with gr.Blocks(title="Generative Model Playground", delete_cache=DELETE_CACHE) as demo:
        gr.Markdown("# Generative Model Playground\nGenerate with, train, evaluate and share generative models. "
                    "Every action here is also an API endpoint and a `playground` CLI command.")
        visitor = visitor_state()  # who this browser is (its runs are its own); made on the first load
        demo.load(remember, visitor, visitor, api_visibility="private", show_progress="hidden")
        tab_ids = ["overview", *registry.families, "plugins"]
        top_tabs: dict[str, gr.Tab] = {}
        polls: dict[str, gr.Timer] = {}  # each family's Train status poll
        with gr.Tabs() as tabs:
            with gr.Tab("Overview", id="overview") as tab:
                try:
                    build_overview_tab(registry)
                except Exception as exc:  # a broken cache or card: the tab says so; the app lives on
                    gr.Markdown(f"⚠️ The overview could not be built: {exc}")
                    traceback.print_exc()
            link_tab(tab, "overview")
            top_tabs["overview"] = tab
            for fam in registry.families.values():
                with gr.Tab(fam.title, id=fam.name) as tab:
                    try:
                        with registry.guard(fam.name, "ui"):
                            panel = FamilyTab(registry, fam, jobs, folders, visitor)
                            panel.build(tab)
                        if panel.poll_timer is not None:
                            polls[fam.name] = panel.poll_timer
                    except Exception as exc:  # a plugin's UI failed: its tab says so; the app lives on
                        gr.Markdown(f"⚠️ This tab could not be built: {exc}")
                        traceback.print_exc()
                link_tab(tab, fam.name)
                top_tabs[fam.name] = tab
            with gr.Tab("Plugins", id="plugins") as tab:
                build_plugins_tab(registry)
            link_tab(tab, "plugins")
            top_tabs["plugins"] = tab
        for name, tab in top_tabs.items():  # opening a family polls its Train status, and no other family's
            tab.select(lambda name=name: [gr.Timer(active=f == name) for f in polls], None,
                       list(polls.values()), api_visibility="private", queue=False, show_progress="hidden")

        def open_linked_tab(wanted: str | None) -> tuple:
            if wanted not in tab_ids:
                return (gr.skip(),) * (1 + len(polls))
            return gr.Tabs(selected=wanted), *(gr.Timer(active=f == wanted) for f in polls)

        # The address as the visitor typed it, read by HEAD before the first tab's own select rewrites it.
        linked = gr.Textbox(visible=False)
        demo.load(open_linked_tab, linked, [tabs, *polls.values()], js="() => window.playgroundLinkedTab || ''",
                  api_visibility="private", show_progress="hidden")
    demo.jobs = jobs  # type: ignore[attr-defined] - tests and the CLI reach the job manager through the app
    return demo


def launch(registry: Any, *, port: int | None = None, share: bool = False, allow_folders: list[str] | None = None,
           **kwargs: Any) -> Any:
    check_home()  # a bad PLAYGROUND_HOME is a start-up error, not a failed first training
    demo = build_app(registry, FolderAccess.from_env(allow_folders or []))
    demo.queue(max_size=64)

    def shut_down(signal_name: str) -> None:  # Gradio closes its server on KeyboardInterrupt in the main thread
        print(f"\n{signal_name}: closing the server; running trainings stop and write their checkpoints.", flush=True)
        raise KeyboardInterrupt

    if kwargs.get("prevent_thread_lock"):  # the caller keeps the thread (and the shutdown) for itself
        return demo.launch(server_port=port, share=share, **LAUNCH_OPTIONS, **kwargs)
    try:
        with stop_on_signals(shut_down):
            return demo.launch(server_port=port, share=share, **LAUNCH_OPTIONS, **kwargs)
    finally:
        for job in demo.jobs.stop_all():
            p = job.progress
            print(f"{job.family} {job.ref}: {p.message or p.status} Resume it from the Train tab (Resume from) or "
                  f"with: playground train {job.family} --resume {job.ref}", flush=True)
