"""Generative Model Playground: a plugin registry, a training engine and a Gradio app for generative models."""

from .contracts import Batch, Chart, DataInfo, Field, ModelFamily, ModelState, Task, TaskResult, TrainConfig
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
from .params import ImageInput, image_param, param

__all__ = [
    "Batch", "Chart", "ConfigError", "DataError", "DataInfo", "DataSpec", "Field", "DatasetInfo", "ImageData",
    "ImageInput", "InputError", "ModelFamily", "ModelState", "PlaygroundError", "PluginError", "PointData",
    "Task", "TaskResult", "TrainConfig", "TrainingError", "WeightsError", "hookimpl", "hookspec",
    "image_param", "param",
]
__version__ = "0.1.0"
