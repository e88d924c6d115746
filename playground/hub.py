"""Share checkpoints on the Hugging Face Hub in its conventions: a repo holding ``model.safetensors``,
``config.json`` and ``README.md`` (the model card). Pulling validates before anything is kept.

Whose credentials a call uses is the caller's choice, made explicit (``Token``): ``huggingface_hub`` given
``token=None`` falls back to the machine's own login (``HF_TOKEN``, ``hf auth login``). That is right for the CLI,
run by the machine's user, and a hole for the web app, whose visitors are strangers: on a Space with ``HF_TOKEN``
set as a secret, any visitor would push to the owner's account and read the owner's private repositories. So web
calls go through ``visitor_token``: the token typed for that call, or ``ANONYMOUS`` — never ``LOCAL_LOGIN``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from .checkpoint import CONFIG_FILE, MODEL_FILE, read_metadata
from .errors import WeightsError
from .models import load_model
from .weights import WeightsEntry, import_target, list_weights, resolve

HUB_FILES = [MODEL_FILE, CONFIG_FILE, "README.md"]

# What ``huggingface_hub`` is told to authenticate with: a token string, or one of these two.
Token = str | bool | None
LOCAL_LOGIN: Token = None  # this machine's login (HF_TOKEN or a cached one): the CLI's user only
ANONYMOUS: Token = False  # send no token at all: public repositories only


def visitor_token(typed: str | None) -> Token:
    """A web visitor's credentials: the token they typed for this call, else anonymous (never the server's)."""
    typed = str(typed or "").strip()
    return typed or ANONYMOUS


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
         cache_dir: str | Path | None = None, overwrite: bool = False, token: Token = LOCAL_LOGIN) -> WeightsEntry:
    """Download (or reuse the local Hub cache, which works offline) and import a checkpoint repo, authenticated
    as ``token`` says (web callers: ``visitor_token``)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    repo_id = check_repo_id(repo_id)
    dest = import_target(family, name, repo_id.replace("/", "--"), overwrite=overwrite)
    try:
        folder = Path(snapshot_download(repo_id, revision=revision, allow_patterns=HUB_FILES,
                                        cache_dir=str(cache_dir) if cache_dir else None, token=token))
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


def push(family: str, ref: str, repo_id: str, *, token: Token = LOCAL_LOGIN, private: bool = False) -> str:
    """Upload a checkpoint's Hub files (never optimiser state) to ``repo_id`` as ``token`` says (web callers:
    ``visitor_token``); returns the repo URL."""
    from huggingface_hub import HfApi

    repo_id = check_repo_id(repo_id)  # the typed id first: refused clearly even where no weights exist yet
    folder = resolve(family, ref)
    meta = read_metadata(folder)
    if meta["family"] != family:
        raise WeightsError(f"{folder} holds a {meta['family']!r} model, not {family!r}.")
    if token is ANONYMOUS:  # before any network call: an anonymous upload can only fail, or use someone's login
        raise WeightsError("Pushing needs a Hugging Face token with write access, typed for this push (it is not "
                           "stored); the server's own login is never used for web visitors.")
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, allow_patterns=HUB_FILES,
                          commit_message=f"Upload {family} checkpoint (step {meta['step']})")
    except Exception as exc:  # network, auth and HTTP errors: all mean "not uploaded"
        raise WeightsError(f"Upload to {repo_id} failed: {type(exc).__name__}: {exc}") from None
    return str(url)
