"""What every tab shares: turning user errors into Gradio errors, and the checked weights lists."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import Iterator
from typing import Any

import gradio as gr

from ..errors import PlaygroundError
from ..weights import list_weights, resolve

GPU = {"concurrency_id": "gpu", "concurrency_limit": 1}
UNEXPECTED = "Unexpected error"  # the start of every message for an error nobody meant to raise (a bug)
log = logging.getLogger("playground.ui")


def user_errors(fn: Any) -> Any:
    """Show a PlaygroundError's message as a Gradio error (a toast in the page, an AppError in the API).

    Anything else is a bug: its traceback goes to the server log and the user gets a message that says so, in
    words that do not depend on the launch's ``show_error`` (and without server paths from the exception)."""

    @contextlib.contextmanager
    def translated() -> Iterator[None]:
        try:
            yield
        except PlaygroundError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except gr.Error:
            raise
        except Exception as exc:
            log.exception("unexpected error in %s", getattr(fn, "__name__", "a handler"))
            raise gr.Error(f"{UNEXPECTED} in {getattr(fn, '__name__', 'this action')} ({type(exc).__name__}); "
                           "nothing was changed. This is a bug: the server log has the details.",
                           print_exception=False) from None

    if inspect.isgeneratorfunction(fn):  # a streaming handler (training bursts): its errors arise while iterating
        @functools.wraps(fn)
        def streaming(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with translated():
                yield from fn(*args, **kwargs)

        return streaming

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with translated():
            return fn(*args, **kwargs)

    return wrapper


def api_parameters(fn: Any, names: list[str], optional: dict[str, Any] | None = None, *,
                   request: bool = False) -> Any:
    """Give a handler that takes ``*values`` named positional parameters, so the API (``view_api``, the clients)
    calls them by the inputs' names instead of ``param_1…``; ``optional`` names the last ones a client may leave out
    (with their defaults). ``request``: Gradio also passes the caller's ``gr.Request``, as the last of ``values``
    (Gradio fills in only positional special arguments). Keyword parameters Gradio fills in (progress) stay."""
    sig = inspect.signature(fn)
    kept = [p for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY or
            (p.default is not inspect.Parameter.empty and p.kind is not inspect.Parameter.VAR_POSITIONAL)]
    named = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names]
    named += [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=v)
              for n, v in (optional or {}).items()]
    if request:
        named.append(inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                       annotation=gr.Request))
        fn.__annotations__ = {**getattr(fn, "__annotations__", {}), "request": gr.Request}
    fn.__signature__ = sig.replace(parameters=named + kept)
    return fn


def weight_refs(family: str) -> list[str]:
    return [e.ref for e in list_weights(family)]


def checked_ref(family: str, ref: str) -> str:
    """``ref`` if it names existing weights; ``weights.resolve`` (the one place that checks references) refuses
    paths and anything outside the weights folders, so the API cannot open server files."""
    resolve(family, ref)
    return str(ref).strip()


def weights_dropdown(family: str, label: str = "Weights") -> gr.Dropdown:
    refs = weight_refs(family)
    # Custom values allowed: runs made after the page loaded are valid; checked_ref guards the API.
    return gr.Dropdown(choices=refs, value=refs[0] if refs else None, label=label, allow_custom_value=True,
                       info="Shipped weights, your runs (run/…) and imports (import/…).")


