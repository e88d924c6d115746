"""Generative Model Playground: a plugin registry, a training engine and a Gradio app for generative models."""

from .contracts import (
    LR_SCHEDULES,
    NO_OPTIMISER,
    Batch,
    BuildInfo,
    Chart,
    Checks,
    DataInfo,
    Field,
    Lab,
    ModelFamily,
    ModelState,
    Parent,
    Scores,
    Stream,
    Task,
    TaskResult,
    TrainConfig,
)
from .data import FOLDER_PREFIX, DatasetInfo, DataSpec, ImageData, MixtureDensity, PointData, convert_channels
from .devices import generator_on
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
from .images import UserImage, make_grid, tensor_to_pil
from .metrics.evaluator import load_evaluator
from .metrics.report import per_class_report, quality_report
from .metrics.scores import codebook_health, mode_counts, perplexity, point_metrics, psnr
from .metrics.views import BINARISED, ImageView
from .params import ImageInput, image_param, param
from .plot2d import Arrow, Ellipse, Extent, Marker, Points, Polyline, load_font, plot
from .plot2d import render as render_2d
from .plot2d import to_tensor as plot_to_tensor
from .run import Run, fit_frozen, lr_factor

__all__ = [
    "BINARISED", "FOLDER_PREFIX", "LR_SCHEDULES", "NO_OPTIMISER",
    "Arrow", "Batch", "BuildInfo", "Chart", "Checks", "ConfigError", "DataError", "DataInfo", "DataSpec",
    "DatasetInfo", "Ellipse", "Extent", "Field", "ImageData", "ImageInput", "ImageView", "InputError", "Lab", "Marker",
    "MixtureDensity", "ModelFamily", "ModelState", "Parent", "PlaygroundError", "PluginError", "PointData", "Points",
    "Polyline", "Run", "Scores",
    "Stream", "Task", "TaskResult", "TrainConfig", "TrainingError", "UserImage", "WeightsError",
    "codebook_health", "convert_channels", "fit_frozen", "generator_on", "hookimpl", "hookspec", "image_param",
    "load_evaluator", "load_font", "lr_factor", "make_grid", "mode_counts", "param", "per_class_report",
    "perplexity", "plot", "plot_to_tensor", "point_metrics", "psnr", "quality_report", "render_2d", "tensor_to_pil",
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
