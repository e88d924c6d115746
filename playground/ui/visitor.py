"""Who is calling, for what belongs to a visitor (their training runs).

A browser keeps a random token of its own in localStorage (``gr.BrowserState``, encrypted by the server), so a
reload or a second tab of the same browser is the same visitor; the server never hands one visitor's token to
another. An API client without a token is its own Gradio session (``gradio_client`` keeps one per Client). Tokens
are made on the page's first load (``remember``); the CLI and a notebook, outside the app, are this machine's user.
"""

from __future__ import annotations

import secrets

import gradio as gr

STORAGE_KEY = "playground-visitor"


def visitor_state() -> gr.BrowserState:
    """The page's visitor token (made empty; ``remember`` fills it on load)."""
    return gr.BrowserState("", storage_key=STORAGE_KEY)


def remember(token: str | None) -> str:
    """The browser's token, made now if it has none yet."""
    return token or secrets.token_urlsafe(18)


def visitor_id(token: str | None, request: gr.Request | None) -> str:
    """The caller: its browser's token, else its API session, else this machine's user ("")."""
    token = str(token or "").strip()
    if token:
        return f"browser:{token}"
    session = getattr(request, "session_hash", None)
    return f"session:{session}" if session else ""
