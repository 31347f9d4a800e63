"""The saved-model format: a folder with ``medl.json`` (config) and ``weights.pt`` (tensors).

One place for the file names, the version and the checksum, read by :meth:`Estimator.save`
and :meth:`Estimator.load` and by medlR (which keeps a model's files inside the R object and
restores them by :func:`weights_key`), so neither side repeats the format.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import torch

NAME = "medl-model"
VERSION = 3  # 3: MEDL variants (variational RE latent); 2: one RE posterior table
CONFIG_FILE = "medl.json"
WEIGHTS_FILE = "weights.pt"
#: every file of a saved model, in the order medlR packs them
FILES = (CONFIG_FILE, WEIGHTS_FILE)


def write(path: str | Path, config: dict[str, Any], weights: dict, overwrite: bool) -> Path:
    """Write ``weights`` and ``config`` (with the format's name, version and checksum)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} exists and is not a directory; choose another path.")
    if (path / CONFIG_FILE).exists() and not overwrite:
        raise ValueError(f"{path} already holds a medl model; pass overwrite=True.")
    path.mkdir(parents=True, exist_ok=True)
    torch.save(weights, path / WEIGHTS_FILE)
    header = {"format": NAME, "format_version": VERSION}
    config = {**header, **config, "weights_sha256": _sha256(path / WEIGHTS_FILE)}
    (path / CONFIG_FILE).write_text(json.dumps(config, indent=1))
    return path


def read(path: str | Path) -> tuple[dict, dict]:
    """Read and check a saved model's config and weights; clear errors for bad files."""
    path = Path(path)
    config_file, weights_file = path / CONFIG_FILE, path / WEIGHTS_FILE
    if not config_file.is_file() or not weights_file.is_file():
        raise ValueError(
            f"{path} is not a saved medl model: expected {CONFIG_FILE} and {WEIGHTS_FILE} in it."
        )
    try:
        config = json.loads(config_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{config_file} is damaged (not valid JSON): {err}.") from err
    if not isinstance(config, dict) or config.get("format") != NAME:
        raise ValueError(f"{config_file} is not a medl model config.")
    version = config.get("format_version")
    if version != VERSION:
        raise ValueError(
            f"{path} was written in medl model format version {version}; this medl reads "
            f"version {VERSION}. Refit the model or use the medl release that wrote it."
        )
    if _sha256(weights_file) != config.get("weights_sha256"):
        raise ValueError(f"{weights_file} is damaged: its checksum does not match the config.")
    try:
        weights = torch.load(weights_file, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a corrupt file
        raise ValueError(f"{weights_file} is damaged and cannot be read: {err}.") from err
    return config, weights


def weights_key(config_text: str) -> str:
    """A short key naming one saved model: the start of its weights' checksum.

    medlR restores a model it carries to a temporary folder of this name, once a session.
    """
    try:
        digest = json.loads(config_text)["weights_sha256"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"not a medl model config ({err}).") from err
    return str(digest)[:16]


def history_lists(history: pd.DataFrame) -> dict[str, list]:
    """The loss history as JSON-ready columns."""
    if history.empty:
        return {}
    table = history.reset_index()
    return {c: [None if pd.isna(v) else float(v) for v in table[c]] for c in table.columns}


def history_frame(data: dict | None) -> pd.DataFrame:
    """The loss history from :func:`history_lists`' columns."""
    if not data:
        return pd.DataFrame()
    frame = pd.DataFrame(data).astype(float)
    frame["epoch"] = frame["epoch"].astype(int)
    return frame.set_index("epoch")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
