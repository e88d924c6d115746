import dataclasses

import numpy as np
import pytest
from PIL import Image

import playground as pg
from playground.images import image_to_tensor


def test_dark_on_light_upload_is_inverted_and_resized():
    arr = np.full((100, 60), 255, np.uint8)
    arr[30:70, 20:40] = 0  # dark ink on white
    x = image_to_tensor(arr, channels=1, size=32)
    assert x.shape == (1, 1, 32, 32)
    assert x[0, 0, 16, 16] > 0.9 and x[0, 0, 0, 0] < -0.9  # ink is now light, background dark


def test_rgba_is_composited_not_dropped():
    im = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    im.paste((255, 255, 255, 255), (16, 16, 48, 48))
    x = image_to_tensor(im, channels=1, size=32, invert="no")
    assert x[0, 0, 16, 16] > 0.9 and x[0, 0, 1, 1] < -0.9


def test_colour_to_three_channels_and_grey():
    im = Image.new("RGB", (40, 40), (255, 0, 0))
    assert image_to_tensor(im, channels=3, size=32, invert="no").shape == (1, 3, 32, 32)
    assert image_to_tensor(im, channels=1, size=32, invert="no").shape == (1, 1, 32, 32)


def test_sketch_is_cropped_to_ink_and_centred():
    canvas = np.full((280, 280), 255, np.uint8)
    canvas[10:60, 200:215] = 0  # a small stroke in a corner
    x = image_to_tensor(canvas, channels=1, size=32, sketch=True)
    cols = (x[0, 0] > 0).any(0).nonzero().flatten()
    assert 8 <= cols.float().mean() <= 24  # centred


@pytest.mark.parametrize("value, match", [
    (None, "No image given"),
    (np.zeros((2, 2), np.uint8), "each side must be between"),
    (np.zeros((10, 10, 5), np.uint8), "Expected an H×W"),
    (np.full((10, 10), np.nan, np.float32), "NaN or Inf"),
])
def test_bad_images_are_clear_errors(value, match):
    with pytest.raises(pg.InputError, match=match):
        image_to_tensor(value, channels=1, size=32)


def test_blank_sketch_is_an_error():
    with pytest.raises(pg.InputError, match="sketch is empty"):
        image_to_tensor(np.full((50, 50), 255, np.uint8), channels=1, size=32, sketch=True)


def test_gradio_sketchpad_values_stay_in_the_ui_layer():
    """The sketchpad's EditorValue is unwrapped by the UI; an empty one is a clear error there, and what leaves the
    UI is a UserImage marked as a sketch (families and the image code never see a Gradio value)."""
    from playground.params import param_specs
    from playground.ui.widgets import build_inputs, sketch_image

    with pytest.raises(pg.InputError, match="sketch is empty"):
        sketch_image({"composite": None, "layers": []})
    canvas = np.full((60, 60), 255, np.uint8)
    canvas[10:40, 20:25] = 0

    @dataclasses.dataclass
    class In:
        image: pg.ImageInput = pg.image_param("x")
        n: int = pg.param(1)

    import gradio as gr

    with gr.Blocks():
        comps, collect = build_inputs(param_specs(In))
    assert len(comps) == 4  # upload, sketchpad, invert, n
    got = collect((None, {"composite": canvas, "layers": []}, "no", 3))
    assert isinstance(got["image"], pg.UserImage) and got["image"].sketch and got["image"].invert == "no"
    assert got["n"] == 3 and collect((None, None, "auto", 1))["image"] is None

    @dataclasses.dataclass
    class Optional:
        image: pg.ImageInput = pg.image_param("x", optional=True)

    with gr.Blocks():
        _, collect_optional = build_inputs(param_specs(Optional))
    assert collect_optional((None, {"composite": None, "layers": []}, "auto"))["image"] is None  # nothing drawn
    with pytest.raises(pg.InputError, match="sketch is empty"):  # … is an error where the image is required
        collect((None, {"composite": None, "layers": []}, "auto", 1))
