"""Errors that carry a message meant for the user (UI, CLI and API show it verbatim)."""


class PlaygroundError(Exception):
    """Base class: the message is complete and safe to show to a user."""


class ConfigError(PlaygroundError, ValueError):
    """A hyperparameter is missing, of the wrong type, NaN/Inf or out of range."""


class DataError(PlaygroundError, ValueError):
    """A dataset is unknown, unavailable offline, or malformed."""


class InputError(PlaygroundError, ValueError):
    """A user-supplied image or value cannot be used."""


class WeightsError(PlaygroundError):
    """A weights file is missing, corrupt, truncated, foreign or does not match the model."""


class TrainingError(PlaygroundError):
    """Training stopped for a reason the user must act on (NaN loss, out of memory, ...)."""


class PluginError(PlaygroundError):
    """A plugin raised inside its own code; the registry records it."""
