"""Generative Model Playground: a plugin registry, a training engine and a Gradio app for generative models."""

from .contracts import (
    NO_OPTIMISER,
    Batch,
    BuildInfo,
    Chart,
    DataInfo,
    Field,
    ModelFamily,
    ModelState,
    Parent,
    Stream,
    Task,
    TaskResult,
    TrainConfig,
)
from .data import DatasetInfo, DataSpec, ImageData, MixtureDensity, PointData
from .errors import (
    ConfigError,
    DataError,
    InputError,
    PlaygroundError,
    PluginError,
    TrainingError,
    WeightsError,
)
from .hookspecs import hookimpl, hookspec
from .images import UserImage, make_grid
from .metrics.report import quality_report
from .metrics.scores import mode_counts, point_metrics
from .metrics.views import BINARISED, ImageView
from .params import ImageInput, image_param, param
from .plot2d import Arrow, Ellipse, Extent, Marker, Points, Polyline, plot
from .plot2d import render as render_2d
from .plot2d import to_tensor as plot_to_tensor
from .run import Run, fit_frozen, lr_factor

__all__ = [
    "BINARISED", "Arrow", "Batch", "BuildInfo", "Chart", "ConfigError", "DataError", "DataInfo", "DataSpec",
    "DatasetInfo", "Ellipse", "Extent", "Field", "ImageData", "ImageInput", "ImageView", "InputError", "Marker",
    "MixtureDensity", "ModelFamily", "ModelState", "NO_OPTIMISER", "Parent", "PlaygroundError", "PluginError",
    "PointData", "Points", "Polyline", "Run",
    "Stream", "Task", "TaskResult", "TrainConfig", "TrainingError", "UserImage", "WeightsError", "hookimpl", "hookspec",
    "fit_frozen", "image_param", "lr_factor", "make_grid", "mode_counts", "param", "plot", "plot_to_tensor",
    "point_metrics", "quality_report", "render_2d",
]
__version__ = "0.1.0"

# The in-process API for notebooks and a plugin's own tests, imported on first use (the engine and registry pull
# in more than a plugin file needs at import time): pg.Registry, pg.Trainer, pg.load_model, pg.Loader,
# pg.conformance, pg.fitted_tensors (a family's weights reference → its module tensors, e.g. for a dataset drawn
# from a fitted model).
_LAZY = {"fitted_tensors": ("weights", "fitted_tensors"), "Registry": ("registry", "Registry"),
         "Trainer": ("engine", "Trainer"), "load_model": ("models", "load_model"),
         "Loader": ("inference", "Loader"), "conformance": ("conformance", None)}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'playground' has no attribute {name!r}")
    import importlib

    module_name, attr = _LAZY[name]
    module = importlib.import_module(f".{module_name}", __name__)
    return module if attr is None else getattr(module, attr)
