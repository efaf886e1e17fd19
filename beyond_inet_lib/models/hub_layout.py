"""Random weights of the real architectures, in the Hugging Face hub's own file layout:
for rehearsals and tests, never for results.

``write_random_weights(keys, hub_cache)`` writes, for each key with pretrained timm /
open_clip weights (the paper's four, any ``timm:`` / ``open_clip:`` key), seeded random-init
weights of that very architecture where huggingface_hub would have put the real ones::

    <hub_cache>/models--<org>--<name>/blobs/<sha256>                   the file
    <hub_cache>/models--<org>--<name>/snapshots/<commit>/<filename>    relative symlink to it
    <hub_cache>/models--<org>--<name>/refs/main                        <commit>

under the repo id and the first file name timm / open_clip look up for the key's tag
(``weights.timm_hub_files`` / ``open_clip_hub_files``; LFS blobs are named by their sha256,
which is the ETag the hub sends). ``get_model(key).load()`` with ``HF_HUB_OFFLINE=1
HF_HUB_CACHE=<hub_cache>`` then runs exactly the code a real run runs, on random weights.
A hub cache that already holds other weights for a repo is never overwritten.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..files import file_checksum
from . import weights as W
from .hub import repo_folder
from .registry import get_model

_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Written:
    """One repo written: ``path`` is the snapshot file the libraries will open."""

    key: str
    repo_id: str
    filename: str
    commit: str
    path: Path
    size: int


def hub_files_of(key: str) -> tuple[W.HubFiles, tuple[str, ...]]:
    """(where the libraries look on the hub, the weights' origin) for a key with pretrained
    timm / open_clip weights; ``UserError`` for any other key."""
    spec = get_model(key)
    origin = W.weights_origin(spec.weights_id) if spec.trained else ("random",)
    if origin[0] not in ("timm", "open_clip"):
        raise UserError(f"{key}: random hub weights are written only for keys with pretrained timm / "
                        f"open_clip weights (the paper's four, timm:<name>, open_clip:<arch>:<tag>); "
                        f"this one's weights are {spec.weights_id!r}")
    files = W.timm_hub_files(origin[1]) if origin[0] == "timm" else W.open_clip_hub_files(*origin[1:])
    if files is None:
        raise UserError(f"{key}: its weights are not published on the Hugging Face hub, so there is "
                        f"no hub layout to imitate")
    return files, origin


def random_state_dict(origin: tuple[str, ...], seed: int = W.RANDOM_SEED) -> dict:
    """A seeded random-init state dict of the real architecture: ('timm', name) or
    ('open_clip', arch, tag) as ``weights.weights_origin`` gives them."""
    if origin[0] == "timm":
        import timm

        def make():
            return timm.create_model(origin[1], pretrained=False).state_dict()
    else:
        import open_clip

        def make():
            return open_clip.create_model(origin[1], pretrained=None, pretrained_text=False,
                                          pretrained_image=False).state_dict()
    with W.hub_offline():  # building the architecture must not fetch anything either
        return W.seeded(make, seed)


def write_random_weights(keys, hub_cache, *, seed: int = W.RANDOM_SEED) -> list[Written]:
    """Write seeded random weights of each key's real architecture into ``hub_cache`` in the
    hub's layout (see the module docstring), one ``Written`` per key; keys sharing a repo
    share its files."""
    hub_cache = Path(hub_cache).expanduser()
    out, by_repo = [], {}
    for key in dict.fromkeys(keys):
        files, origin = hub_files_of(key)
        if files.repo_id not in by_repo:
            by_repo[files.repo_id] = _write_repo(key, files, random_state_dict(origin, seed), hub_cache)
        w = by_repo[files.repo_id]
        out.append(Written(key, w.repo_id, w.filename, w.commit, w.path, w.size))
    return out


def _write_repo(key: str, files: W.HubFiles, state: dict, hub_cache: Path) -> Written:
    folder = repo_folder(files.repo_id, hub_cache)
    filename = files.filenames[0]
    blobs = folder / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    tmp = blobs / f".{Path(filename).name}.{os.getpid()}.incomplete"
    try:
        _save(state, tmp, filename)
        sha = file_checksum(tmp)
        revision = files.revision or "main"
        commit = revision if _COMMIT.fullmatch(revision) else hashlib.sha1(
            f"{files.repo_id}\n{filename}\n{sha}".encode()).hexdigest()
        ref = folder / "refs" / revision
        if ref.is_file() and ref.read_text().strip() != commit:
            raise UserError(f"{folder} already holds other weights for {files.repo_id} (commit "
                            f"{ref.read_text().strip()}); write random weights into a hub cache of "
                            f"their own, never over real ones")
        blob = blobs / sha
        os.replace(tmp, blob)
    finally:
        tmp.unlink(missing_ok=True)
    snapshot = folder / "snapshots" / commit / filename
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    if snapshot.is_symlink() or snapshot.exists():
        snapshot.unlink()
    try:  # huggingface_hub links snapshots to blobs by relative symlinks where it can
        os.symlink(os.path.relpath(blob, snapshot.parent), snapshot)
    except OSError:
        shutil.copyfile(blob, snapshot)
    if not _COMMIT.fullmatch(revision):
        ref.parent.mkdir(parents=True, exist_ok=True)
        ref.write_text(commit)
    return Written(key, files.repo_id, filename, commit, snapshot, blob.stat().st_size)


def _save(state: dict, path: Path, filename: str) -> None:
    import torch

    tensors, storages = {}, set()
    for k, v in state.items():
        v = v.detach().contiguous()
        ptr = v.untyped_storage().data_ptr()
        tensors[k] = v.clone() if ptr in storages else v  # safetensors refuses shared storage
        storages.add(ptr)
    if filename.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file(tensors, str(path), metadata={"format": "pt"})
    else:
        torch.save(tensors, path)
