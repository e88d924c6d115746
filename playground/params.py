"""Declared parameters: dataclass fields whose metadata drives validation, the Train form and CLI flags.

A family's config and each task's inputs are plain dataclasses built with :func:`param` and
:func:`image_param`; one validator serves the UI, the CLI and the API.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError


class ImageInput:
    """Marker type for a task input that is an image (upload or sketch). The family receives it as a C×H×W
    tensor in [-1, 1] at the model's size and channels; the framework converts what the user gave."""


INVERT_CHOICES = ("auto", "yes", "no")


def param(
    default: Any,
    *,
    help: str = "",
    min: float | None = None,
    max: float | None = None,
    choices: typing.Sequence[Any] | None = None,
    label: str | None = None,
    advanced: bool = False,
    dataset: bool = False,
) -> Any:
    """A dataclass field with the metadata the UI and CLI need. ``dataset``: the value names a dataset (a
    registered one or ``folder:PATH``), so pickers offer the registered ones and the web's folder rule applies."""
    meta = {"help": help, "min": min, "max": max, "choices": tuple(choices) if choices else None,
            "label": label, "advanced": advanced, "dataset": dataset}
    return dataclasses.field(default=default, metadata=meta)


def image_param(help: str = "", *, label: str | None = None, optional: bool = False) -> Any:
    """An image input; the UI offers upload and a sketchpad. Required unless ``optional``: then the family gets
    None when the user gave nothing (or an empty sketch) and decides what that means."""
    meta = {"help": help, "label": label, "min": None, "max": None, "choices": None, "advanced": False,
            "optional": optional}
    return dataclasses.field(default=None, metadata=meta)


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: type
    default: Any
    help: str
    label: str
    min: float | None
    max: float | None
    choices: tuple[Any, ...] | None
    advanced: bool
    dataset: bool = False
    optional: bool = False  # an image input the user may leave empty

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def display(self) -> str:
        """How messages name it: the field (what the CLI and API use) and, when it reads differently, the form's
        label (what the page shows), so a refusal is clear from every side."""
        plain = self.name.replace("_", " ").lower()
        return f"'{self.name}'" if self.label.lower() == plain else f"'{self.name}' ({self.label})"


def settable_specs(cls: type) -> list[ParamSpec]:
    """The parameters a user sets: ``param_specs`` less the fields the class declares ``unused``."""
    unused = set(getattr(cls, "unused", ()))
    return [s for s in param_specs(cls) if s.name not in unused]


def param_specs(cls: type) -> list[ParamSpec]:
    """The declared parameters of a config or task-input dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        default = f.default if f.default is not dataclasses.MISSING else None
        specs.append(ParamSpec(
            name=f.name, type=hints[f.name], default=default, help=meta.get("help", ""),
            label=meta.get("label") or f.name.replace("_", " "), min=meta.get("min"), max=meta.get("max"),
            choices=meta.get("choices"), advanced=meta.get("advanced", False), dataset=meta.get("dataset", False),
            optional=meta.get("optional", False),
        ))
    return specs


def invert_spec(image: ParamSpec) -> ParamSpec:
    """The framework's companion of an image input: whether to invert it (UI dropdown, CLI flag, API slot)."""
    return ParamSpec(name=f"{image.name}_invert", type=str, default="auto", label="invert", min=None, max=None,
                     help="Invert dark-on-light images (the built-in data is light ink on dark); auto decides "
                          "by brightness.", choices=INVERT_CHOICES, advanced=False)


def _coerce(spec: ParamSpec, value: Any) -> Any:
    name = spec.display
    if spec.type is ImageInput:
        return value
    if value is None or (isinstance(value, str) and value.strip() == "" and spec.type is not str):
        raise ConfigError(f"{name} is required ({spec.help or spec.type.__name__}).")
    try:
        if spec.type is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return low in ("true", "1", "yes")
            if isinstance(value, bool) or (isinstance(value, (int, float)) and value in (0, 1)):
                return bool(value)
            raise ValueError(value)
        if spec.type is int:
            number = value
            if isinstance(value, bool):
                raise ValueError(value)
            if isinstance(value, str):
                try:
                    return int(value.strip())
                except ValueError:
                    number = float(value)
            if isinstance(number, float):
                if not math.isfinite(number):
                    raise ConfigError(f"{name} must be a finite whole number, got {value}.")
                if number != int(number):
                    raise ConfigError(f"{name} must be a whole number, got {value}.")
            return int(number)
        if spec.type is float:
            if isinstance(value, bool):
                raise ValueError(value)
            out = float(value)
            if not math.isfinite(out):
                raise ConfigError(f"{name} must be a finite number, got {value}.")
            return out
        if spec.type is str:
            return str(value)
    except ConfigError:
        raise
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be {spec.type.__name__}, got {value!r}.") from None
    return value


# Bounds for numbers that declare none: what a seed, a size or a count can sensibly be (torch seeds and most
# sizes are 32-bit), so an undeclared bound never lets 10**12 through.
DEFAULT_INT_RANGE = (-(2**31), 2**31 - 1)
DEFAULT_FLOAT_LIMIT = 1e15


def validate_value(spec: ParamSpec, value: Any) -> Any:
    """Coerce one value to its declared type and check its range and choices."""
    out = _coerce(spec, value)
    if spec.choices is not None and out not in spec.choices:
        raise ConfigError(f"{spec.display} must be one of {', '.join(map(str, spec.choices))}; got {out!r}.")
    if isinstance(out, (int, float)) and not isinstance(out, bool):
        lo, hi = DEFAULT_INT_RANGE if spec.type is int else (-DEFAULT_FLOAT_LIMIT, DEFAULT_FLOAT_LIMIT)
        lo = spec.min if spec.min is not None else lo
        hi = spec.max if spec.max is not None else hi
        if out < lo:
            raise ConfigError(f"{spec.display} must be at least {lo}; got {out}.")
        if out > hi:
            raise ConfigError(f"{spec.display} must be at most {hi}; got {out}.")
    return out


def build_params(cls: type, values: dict[str, Any] | None = None, *, strict: bool = True) -> Any:
    """Build a validated instance of ``cls`` from loose values (strings from the CLI, floats from the UI)."""
    values = dict(values or {})
    specs = {s.name: s for s in param_specs(cls)}
    unknown = sorted(set(values) - set(specs))
    if unknown and strict:
        raise ConfigError(f"Unknown setting(s) {', '.join(unknown)}; known: {', '.join(specs)}.")
    kwargs = {}
    for name, spec in specs.items():
        kwargs[name] = validate_value(spec, values[name]) if name in values else spec.default
    obj = cls(**kwargs)
    check = getattr(obj, "check", None)
    if callable(check):
        check()
    return obj


def params_to_dict(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
