"""Where the playground's files live, named once. Imports nothing of ours (the bottom floor): the data layer, the
evaluators, the weights and the leaderboard all ask here.

- ``shipped_dir()``: the weights that come with the code (``weights/FAMILY/NAME``, ``weights/evaluators/DATASET``);
  ``PLAYGROUND_WEIGHTS_DIR`` points elsewhere.
- ``home_dir()``: what a user makes (``runs/``, ``imports/``, ``evaluators/``, ``points/``, the leaderboard cache);
  ``PLAYGROUND_HOME``, default ``~/.cache/playground``.
"""

from __future__ import annotations

import os
from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "weights"


def shipped_dir() -> Path:
    return Path(os.environ.get("PLAYGROUND_WEIGHTS_DIR", SHIPPED_DIR))


def home_dir() -> Path:
    return Path(os.environ.get("PLAYGROUND_HOME", Path.home() / ".cache" / "playground"))


def runs_dir(family: str) -> Path:
    return home_dir() / "runs" / family


def imports_dir(family: str) -> Path:
    return home_dir() / "imports" / family


def points_dir() -> Path:
    return home_dir() / "points"
