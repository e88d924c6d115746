"""Share checkpoints on the Hugging Face Hub in its conventions: a repo holding ``model.safetensors``,
``config.json`` and ``README.md`` (the model card). Pulling validates before anything is kept."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from .checkpoint import CONFIG_FILE, MODEL_FILE, read_metadata
from .errors import WeightsError
from .models import load_model
from .weights import WeightsEntry, import_target, list_weights, resolve

HUB_FILES = [MODEL_FILE, CONFIG_FILE, "README.md"]


def check_repo_id(repo_id: str) -> str:
    """``user/name`` as the Hub spells repository ids, or a message that says so."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    repo_id = str(repo_id or "").strip()
    try:
        if repo_id.count("/") != 1:
            raise HFValidationError("it needs exactly one '/'")
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise WeightsError(f"Repository id {repo_id[:60]!r} is not a Hub repository id like user/my-model "
                           f"({str(exc).splitlines()[0][:160]}).") from None
    return repo_id


def pull(registry: Any, family: str, repo_id: str, *, revision: str | None = None, name: str | None = None,
         cache_dir: str | Path | None = None, overwrite: bool = False) -> WeightsEntry:
    """Download (or reuse the local Hub cache, which works offline) and import a checkpoint repo."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    repo_id = check_repo_id(repo_id)
    dest = import_target(family, name, repo_id.replace("/", "--"), overwrite=overwrite)
    try:
        folder = Path(snapshot_download(repo_id, revision=revision, allow_patterns=HUB_FILES,
                                        cache_dir=str(cache_dir) if cache_dir else None))
    except LocalEntryNotFoundError:
        raise WeightsError(f"{repo_id} is not in the local Hub cache and the Hub is not reachable "
                           f"(offline, or HF_HUB_OFFLINE=1).") from None
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise WeightsError(f"Could not fetch {repo_id} from the Hub: {exc}") from None
    if not (folder / MODEL_FILE).exists():
        raise WeightsError(f"{repo_id} has no {MODEL_FILE}; it is not a playground checkpoint repo.")
    load_model(registry, folder, family=family)  # validates family, shapes, values
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "README.md").unlink(missing_ok=True)  # a replaced import keeps no card of the old repo
    for f in HUB_FILES:
        if (folder / f).exists():
            shutil.copyfile(folder / f, dest / f)
    return next(e for e in list_weights(family) if e.path == dest)


def push(family: str, ref: str, repo_id: str, *, token: str | None = None, private: bool = False) -> str:
    """Upload a checkpoint's Hub files (never optimiser state) to ``repo_id``; returns the repo URL."""
    from huggingface_hub import HfApi

    repo_id = check_repo_id(repo_id)  # the typed id first: refused clearly even where no weights exist yet
    folder = resolve(family, ref)
    meta = read_metadata(folder)
    if meta["family"] != family:
        raise WeightsError(f"{folder} holds a {meta['family']!r} model, not {family!r}.")
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, allow_patterns=HUB_FILES,
                          commit_message=f"Upload {family} checkpoint (step {meta['step']})")
    except Exception as exc:  # network, auth and HTTP errors: all mean "not uploaded"
        raise WeightsError(f"Upload to {repo_id} failed: {type(exc).__name__}: {exc}") from None
    return str(url)
