"""Generative Model Playground: a plugin registry, a training engine and a Gradio app for generative models."""

from .contracts import (
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
from .data import DatasetInfo, DataSpec, ImageData, PointData
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
from .plot2d import Arrow, Ellipse, Extent, Marker, Polyline, plot
from .plot2d import render as render_2d
from .plot2d import to_tensor as plot_to_tensor
from .run import Run

__all__ = [
    "BINARISED", "Arrow", "Batch", "BuildInfo", "Chart", "ConfigError", "DataError", "DataInfo", "DataSpec",
    "DatasetInfo", "Ellipse", "Extent", "Field", "ImageData", "ImageInput", "ImageView", "InputError", "Marker",
    "ModelFamily", "ModelState", "Parent", "PlaygroundError", "PluginError", "PointData", "Polyline", "Run", "Stream",
    "Task", "TaskResult", "TrainConfig", "TrainingError", "UserImage", "WeightsError", "hookimpl", "hookspec",
    "image_param", "make_grid", "mode_counts", "param", "plot", "plot_to_tensor", "point_metrics", "quality_report",
    "render_2d",
]
__version__ = "0.1.0"
