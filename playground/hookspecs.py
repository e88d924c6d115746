"""The hooks a plugin may implement.

Registration hooks follow llm's ``register_models(register)`` style: the plugin calls ``register``
once per thing it provides. Event hooks are for observers; every implementation is called (1:N).
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("playground")
hookimpl = pluggy.HookimplMarker("playground")


@hookspec
def register_models(register):  # type: ignore[no-untyped-def]
    """Call ``register(family)`` for each ModelFamily instance this plugin provides."""


@hookspec
def register_datasets(register):  # type: ignore[no-untyped-def]
    """Call ``register(dataset_info)`` for each DatasetInfo this plugin provides."""


@hookspec
def on_train_step(family, step, losses):  # type: ignore[no-untyped-def]
    """Observe a logged training step: ``losses`` is a dict of floats."""


@hookspec
def on_checkpoint_saved(family, path, step):  # type: ignore[no-untyped-def]
    """Observe a checkpoint written to ``path`` (a folder) at ``step``."""
