"""A loopback HTTP server for download tests, and the GitHub-shaped site the demo data
comes from, built from the test data root.

``Server`` serves ``files`` (URL path, or a bare file name for a flat mirror -> bytes) with HTTP Range (206 / 416), answers
``redirects`` (URL path -> Location) with 302 like GitHub's release assets, can cut a
response short after K bytes (``cut``) or ignore Range requests, and records every request.

``github_site(server, data_root)`` publishes, under the URL paths GitHub uses:

* ``/github/bethgelab/model-vs-human/releases/download/v0.1/cue-conflict.tar.gz`` -> 302 to
  ``https://objects.githubusercontent.com/github-production-release-asset-2e65be/...``
  (served here under ``/objects/...``: the redirect target goes through the same rewrite);
* ``/github/EliSchwartz/imagenet-sample-images/archive/refs/heads/master.zip``;
* ``/raw/<owner>/<repo>/<ref>/<path>`` for raw.githubusercontent.com: every cue-conflict
  stimulus of texture-vs-shape at the pinned commit, the model-vs-human and Beyond-INet
  decision logs;

and, where the data root holds them, model-vs-human's benchmark: the release assets
``edge.tar.gz`` and ``silhouette.tar.gz`` (302 to the storage host like cue-conflict's), the
edge and silhouette stimuli of texture-vs-shape at its pinned commit and the observers'
trials of ``raw-data/edge`` and ``raw-data/silhouette`` at model-vs-human's pinned commit;

and returns the host rewrite that sends the real hosts to it.
"""

from __future__ import annotations

import functools
import io
import re
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RELEASE = "/github/bethgelab/model-vs-human/releases/download/v0.1/cue-conflict.tar.gz"
RELEASE_STORAGE = ("/objects/github-production-release-asset-2e65be/310143209/"
                   "cue-conflict.tar.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256&response-content-disposition=attachment")
SAMPLES_ZIP = "/github/EliSchwartz/imagenet-sample-images/archive/refs/heads/master.zip"
STIMULI_RAW = "/raw/rgeirhos/texture-vs-shape/ef10e3ed6e41da1af0f0f8e0dfcea40ed838ee25/stimuli/style-transfer-preprocessed-512"
HUMANS_RAW = "/raw/bethgelab/model-vs-human/master/raw-data/cue-conflict"
PAPER_RAW = "/raw/kirill-vish/Beyond-INet/main/inference/modelvshuman/raw-data/cue-conflict"
PAPER_LOGS = ("convnext-base-21k", "deit3-21k", "convnext-clip", "vit-clip", "tv-resnet50")
MVH_COMMIT = "79ed7cd1d9ac3a114e71b6638f0a98bdd627316c"
TVS_COMMIT = "ccd0c01d42c0a8a834e90ec141e7f24fa915dc23"
#: our dataset -> (model-vs-human's name, texture-vs-shape's stimuli folder)
BENCHMARK_STIMULI = {"edges": ("edge", "edges"), "silhouettes": ("silhouette", "filled-silhouettes")}


def release(name: str) -> str:
    """The URL path of model-vs-human's release asset ``<name>.tar.gz``."""
    return f"/github/bethgelab/model-vs-human/releases/download/v0.1/{name}.tar.gz"


def release_storage(name: str) -> str:
    """Where GitHub redirects that asset (served here under ``/objects/``)."""
    return (f"/objects/github-production-release-asset-2e65be/310143209/{name}.tar.gz"
            "?X-Amz-Algorithm=AWS4-HMAC-SHA256&response-content-disposition=attachment")


def stimuli_raw(dataset: str) -> str:
    return f"/raw/rgeirhos/texture-vs-shape/{TVS_COMMIT}/stimuli/{BENCHMARK_STIMULI[dataset][1]}"


def trials_raw(source_name: str) -> str:
    return f"/raw/bethgelab/model-vs-human/{MVH_COMMIT}/raw-data/{source_name}"


class Server:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}
        self.cut: dict[str, int] = {}
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []
        state = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path, rng = self.path, self.headers.get("Range")
                state.requests.append((path.lstrip("/"), rng))
                if path in state.redirects:
                    self.send_response(302)
                    self.send_header("Location", state.redirects[path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if path not in state.files:
                    path = path.lstrip("/")   # flat mirrors: files keyed by bare name
                if path not in state.files:
                    self.send_error(404)
                    return
                data = state.files[path]
                start = 0
                if rng and not state.ignore_range:
                    start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if path in state.cut:
                    self.wfile.write(body[:state.cut.pop(path)])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def paths_requested(self) -> list[str]:
        return ["/" + p for p, _ in self.requests]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def tar_gz(folder: Path, prefix: str, replace: dict[str, bytes] | None = None, drop=(),
           extra: dict[str, bytes] | None = None) -> bytes:
    """``folder``'s files as a .tar.gz below ``prefix``; ``replace`` / ``drop`` / ``extra``
    alter, remove or add members (paths relative to ``folder``)."""
    members = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tf:
        for rel in sorted(set(members) | set(extra or {})):
            if rel in drop:
                continue
            data = {**(extra or {}), **(replace or {})}.get(rel) or members[rel].read_bytes()
            info = tarfile.TarInfo(prefix + rel)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def samples_zip(folder: Path, drop=()) -> bytes:
    """The GitHub archive of imagenet-sample-images: everything below
    ``imagenet-sample-images-master/``, with a README beside the images."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("imagenet-sample-images-master/README.md", b"# ImageNet sample images\n")
        for p in sorted(folder.iterdir()):
            if p.name not in drop:
                zf.write(p, "imagenet-sample-images-master/" + p.name)
    return buf.getvalue()


@functools.lru_cache(maxsize=2)
def _site_files(data_root: Path) -> tuple[tuple[str, bytes], ...]:
    """URL path -> bytes of everything but the release asset (read once per test run)."""
    stimuli = data_root / "cue-conflict"
    files = {SAMPLES_ZIP: samples_zip(data_root / "imagenet-samples")}
    for p in stimuli.rglob("*.png"):
        files[f"{STIMULI_RAW}/{p.relative_to(stimuli).as_posix()}"] = p.read_bytes()
    humans = data_root / "reference" / "cue-conflict-humans"
    for i in range(1, 11):
        name = f"cue-conflict_subject-{i:02d}_session_1.csv"
        files[f"{HUMANS_RAW}/{name}"] = (humans / name).read_bytes()
    logs = data_root / "reference" / "cue-conflict-decisions"
    for who in PAPER_LOGS:
        name = f"cue-conflict_{who}_session-1.csv"
        files[f"{PAPER_RAW}/{name}"] = (logs / name).read_bytes()
    for dataset, (source_name, _) in BENCHMARK_STIMULI.items():
        folder, trials = data_root / dataset, data_root / "reference" / f"{source_name}-humans"
        for p in sorted(folder.rglob("*.png")) if folder.is_dir() else []:
            files[f"{stimuli_raw(dataset)}/{p.relative_to(folder).as_posix()}"] = p.read_bytes()
        for p in sorted(trials.glob("*.csv")) if trials.is_dir() else []:
            files[f"{trials_raw(source_name)}/{p.name}"] = p.read_bytes()
    return tuple(files.items())


def github_site(server: Server, data_root: Path, cue_conflict_archive: bytes | None = None) -> dict[str, str]:
    """Publish the demo data's sources on ``server`` (see the module docstring); returns the
    host rewrite {real prefix: server prefix}."""
    server.files.update(_site_files(Path(data_root)))
    server.files[RELEASE_STORAGE] = cue_conflict_archive or tar_gz(data_root / "cue-conflict", "cue-conflict/")
    server.redirects[RELEASE] = "https://objects.githubusercontent.com" + RELEASE_STORAGE[len("/objects"):]
    for dataset, (source_name, _) in BENCHMARK_STIMULI.items():
        if (Path(data_root) / dataset).is_dir():
            publish_release(server, source_name, tar_gz(Path(data_root) / dataset, f"{source_name}/"))
    return {"https://github.com": server.url + "/github",
            "https://raw.githubusercontent.com": server.url + "/raw",
            "https://objects.githubusercontent.com": server.url + "/objects"}


def publish_release(server: Server, name: str, archive: bytes) -> None:
    """Serve ``archive`` as model-vs-human's release asset ``<name>.tar.gz`` (with GitHub's redirect)."""
    server.files[release_storage(name)] = archive
    server.redirects[release(name)] = "https://objects.githubusercontent.com" + release_storage(name)[len("/objects"):]
