"""Checks run on a freshly unpacked dataset, in its staging folder, before it is renamed
into place: what is not right is repaired or nothing is installed.

* cue-conflict: every stimulus is checked against the SHA-256 manifest shipped in the
  package (``assets/cue_conflict_stimuli.sha256``: the 1,280 PNGs of
  rgeirhos/texture-vs-shape at commit ``CUE_CONFLICT_COMMIT``, folder
  ``stimuli/style-transfer-preprocessed-512``). The archive is model-vs-human's release
  asset, whose own bytes we have not seen, so it is not trusted as a whole: any stimulus
  it lacks or holds with other bytes is fetched from texture-vs-shape itself (that
  commit's raw file) and verified; files not in the manifest are dropped.
* edges, silhouettes: the same check against ``assets/edges_stimuli.sha256`` and
  ``assets/silhouettes_stimuli.sha256`` (the 160 PNGs each of texture-vs-shape at commit
  ``TEXTURE_VS_SHAPE_COMMIT``, ``stimuli/edges`` and ``stimuli/filled-silhouettes``); the
  archive is model-vs-human's release asset ``edge.tar.gz`` / ``silhouette.tar.gz``.
* the other datasets of model-vs-human's benchmark: no checksum is published for their
  release archives, so the check is structural: as many stimuli as the benchmark has, each
  named with one of the 16 categories and one of the dataset's levels.
* imagenet-samples: no checksum is published for EliSchwartz/imagenet-sample-images, so
  the check is structural: exactly one ``<wnid>_<name>.JPEG`` for each of the 1,000
  ImageNet classes, and every one decodes.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from ..errors import ChecksumMismatch, DownloadError
from .imagenet_labels import imagenet_wnids
from .index import list_images
from .model_vs_human import BENCHMARK, TEXTURE_VS_SHAPE_COMMIT, parse_stimulus
from .registry import assets_dir
from .transfer import HttpSettings

CUE_CONFLICT_COMMIT = "ef10e3ed6e41da1af0f0f8e0dfcea40ed838ee25"
CUE_CONFLICT_FILE_URL = ("https://raw.githubusercontent.com/rgeirhos/texture-vs-shape/" + CUE_CONFLICT_COMMIT
                         + "/stimuli/style-transfer-preprocessed-512/{rel}")
CUE_CONFLICT_MANIFEST = "cue_conflict_stimuli.sha256"
_TVS_RAW = "https://raw.githubusercontent.com/rgeirhos/texture-vs-shape/" + TEXTURE_VS_SHAPE_COMMIT + "/stimuli/"
#: dataset -> (its shipped manifest, the URL of one of its stimuli at the pinned commit)
STIMULI_MANIFESTS = {
    "cue-conflict": (CUE_CONFLICT_MANIFEST, CUE_CONFLICT_FILE_URL),
    "edges": ("edges_stimuli.sha256", _TVS_RAW + "edges/{rel}"),
    "silhouettes": ("silhouettes_stimuli.sha256", _TVS_RAW + "filled-silhouettes/{rel}"),
}


@functools.lru_cache(maxsize=None)
def _manifest(name: str = CUE_CONFLICT_MANIFEST) -> tuple[tuple[str, str], ...]:
    lines = (assets_dir() / name).read_text().splitlines()
    return tuple((rel, digest) for digest, rel in (ln.split(None, 1) for ln in lines if ln.strip()))


def cue_conflict_manifest() -> dict[str, str]:
    """``<category>/<file>.png`` -> SHA-256 hex of the 1,280 published stimuli."""
    return dict(_manifest())


def stimuli_manifest(dataset: str) -> dict[str, str]:
    """``<category>/<file>.png`` -> SHA-256 hex of the published stimuli of ``dataset``
    (cue-conflict, edges or silhouettes)."""
    return dict(_manifest(STIMULI_MANIFESTS[dataset][0]))


def verify_cue_conflict(folder: Path, http: HttpSettings) -> dict:
    """Make ``folder`` hold exactly the published stimuli (see the module docstring).
    Returns counts: {'verified', 'refetched', 'dropped'}; raises ``DownloadError`` (or
    ``ChecksumMismatch``) when a stimulus cannot be had with the published bytes."""
    return verify_stimuli("cue-conflict", folder, http)


def verify_stimuli(dataset: str, folder: Path, http: HttpSettings) -> dict:
    """Make ``folder`` hold exactly the published stimuli of ``dataset`` (cue-conflict,
    edges or silhouettes): files not in its manifest are dropped, missing or different ones
    fetched from their source at the pinned commit and verified. Returns counts
    {'verified', 'refetched', 'dropped'}; raises ``DownloadError`` (or ``ChecksumMismatch``)
    when a stimulus cannot be had with the published bytes."""
    from ..progress import bar

    folder = Path(folder)
    manifest = stimuli_manifest(dataset)
    file_url = STIMULI_MANIFESTS[dataset][1]
    dropped = 0
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.relative_to(folder).as_posix() not in manifest:
            p.unlink()
            dropped += 1
    bad = []
    for rel, digest in bar(sorted(manifest.items()), desc=f"verifying {dataset}", unit="file",
                           enabled=http.progress, leave=False):
        p = folder / rel
        if not p.is_file() or hashlib.sha256(p.read_bytes()).hexdigest() != digest:
            bad.append(rel)
    for rel in bar(bad, desc="fetching stimuli the archive lacked", unit="file",
                   enabled=http.progress and bool(bad), leave=False):
        url = file_url.format(rel=rel)
        try:
            http.download(url, folder / rel, checksum="sha256:" + manifest[rel], progress=False)
        except ChecksumMismatch as e:
            raise ChecksumMismatch(f"{dataset}: {rel} has other bytes than the published stimulus "
                                   f"both in the archive and at its source. {e}") from None
        except DownloadError as e:
            raise DownloadError(f"{dataset}: {len(bad)} of {len(manifest)} stimuli were missing from the "
                                f"archive or had other bytes, and fetching them one by one failed: {e}") from None
    return {"verified": len(manifest) - len(bad), "refetched": len(bad), "dropped": dropped}


def verify_benchmark_stimuli(dataset: str, folder: Path, http: HttpSettings) -> dict:
    """A dataset of model-vs-human's benchmark without a published checksum: exactly its
    number of stimuli, every one named with one of the 16 categories and one of its levels
    (``model_vs_human.parse_stimulus``), no image id twice. Returns {'verified': n}."""
    d = BENCHMARK[dataset]
    files = list_images(Path(folder))
    bad, ids = [], set()
    for p in files:
        try:
            ids.add(parse_stimulus(p.name, d, p.parent.name)["stimulus"])
        except ValueError as e:
            bad.append(str(e))
    if bad or len(ids) != d.images or len(files) != d.images:
        detail = f"{len(files):,} images ({len(ids):,} distinct), {len(bad):,} not named as the benchmark names them"
        raise DownloadError(f"{dataset}: the archive does not hold the benchmark's {d.images:,} stimuli: {detail}"
                            f"{' (e.g. ' + bad[0] + ')' if bad else ''}. Nothing was installed; the source may "
                            "have changed.")
    return {"verified": len(files)}


def verify_imagenet_samples(folder: Path, http: HttpSettings) -> dict:
    """Exactly one decodable ``<wnid>_<name>.JPEG`` per ImageNet class in ``folder``."""
    from PIL import Image

    from ..progress import bar

    folder = Path(folder)
    by_wnid: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        by_wnid.setdefault(p.name.split("_", 1)[0], []).append(p)
    wnids = imagenet_wnids()
    lacking = [w for w in wnids if w not in by_wnid]
    twice = [w for w in wnids if len(by_wnid.get(w, ())) > 1]
    unknown = sorted(set(by_wnid) - set(wnids))
    if lacking or twice or unknown:
        parts = [f"{len(lacking)} classes without an image (e.g. {', '.join(lacking[:3])})" if lacking else "",
                 f"{len(twice)} classes with several (e.g. {', '.join(twice[:3])})" if twice else "",
                 f"files of no ImageNet class (e.g. {', '.join(unknown[:3])})" if unknown else ""]
        raise DownloadError("imagenet-samples: the archive does not hold exactly one <wnid>_<name>.JPEG per "
                            f"ImageNet class: {'; '.join(p for p in parts if p)}. Nothing was installed; "
                            "the source may have changed.")
    broken = []
    for w in bar(wnids, desc="decoding imagenet-samples", unit="file", enabled=http.progress, leave=False):
        p = by_wnid[w][0]
        try:
            with Image.open(p) as im:
                im.draft("RGB", (64, 64))  # JPEG: decode at 1/8 scale, still every byte
                im.load()
        except Exception as e:  # noqa: BLE001 - any decoder error means a broken file
            broken.append(f"{p.name} ({e})")
    if broken:
        raise DownloadError(f"imagenet-samples: {len(broken)} files do not decode: {', '.join(broken[:3])}. "
                            "Nothing was installed; run again (or the source is corrupt).")
    return {"verified": len(wnids)}
