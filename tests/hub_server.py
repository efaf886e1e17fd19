"""A Hugging Face hub on 127.0.0.1 for tests, speaking the real protocol through HF_ENDPOINT.

It serves a folder in the hub cache's own layout (``models--<org>--<name>/refs``,
``snapshots``, ``blobs``: what ``hub_layout.write_random_weights`` writes) with the URL
shapes and headers huggingface_hub 2.x relies on (``file_download.py``:
``get_hf_file_metadata``, ``_get_metadata_or_catch_error``, ``http_get``;
``utils/_http.py``: ``hf_raise_for_status``):

``HEAD|GET <endpoint>/<org>/<name>/resolve/<revision>/<filename>``
  * a large (LFS) file: 302 to the CDN, another origin as on the real hub (cdn-lfs), with
    ``X-Repo-Commit``, ``X-Linked-Etag`` (the sha256) and ``X-Linked-Size``; huggingface_hub
    does not follow a redirect to another host for the metadata and GETs the Location;
  * a small (git) file: 200 with ``ETag`` (the git blob sha1), ``Content-Length``,
    ``X-Repo-Commit``;
  * no such repo: 401 ``X-Error-Code: RepoNotFound``; no such revision: 404
    ``RevisionNotFound``; no such file: 404 ``EntryNotFound`` with ``X-Repo-Commit``.
``GET|HEAD <cdn>/<repo folder>/<sha256>``: the blob, with ``Content-Length``, ``ETag``
  and ``Range`` support (huggingface_hub resumes with ``Range: bytes=N-``).
``HEAD|GET <endpoint>/``: 200 (what ``hub.probe`` asks).

Every request is recorded in ``requests`` as (origin, method, path). No other endpoint
is called by timm / open_clip downloads (no /api/ calls; no Xet headers are sent, so the
plain HTTP path is taken).
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LFS_THRESHOLD = 10 * 1024 * 1024  # the hub stores weights (and anything large) in LFS
_LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".npz", ".h5", ".onnx")


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class HubServer:
    """``HubServer(root)``: serve the hub-cache-layout folder ``root``. Use as a context
    manager; ``endpoint`` is what HF_ENDPOINT should be."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.requests: list[tuple[str, str, str]] = []
        self._hub = ThreadingHTTPServer(("127.0.0.1", 0), self._handler("hub"))
        self._cdn = ThreadingHTTPServer(("127.0.0.1", 0), self._handler("cdn"))
        self._threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (self._hub, self._cdn)]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._hub.server_address[1]}"

    @property
    def cdn(self) -> str:
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        for s in (self._hub, self._cdn):
            s.shutdown()
            s.server_close()

    # ------------------------------------------------------------------------ routing
    def _handler(self, origin: str):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_HEAD(self):
                server._answer(self, origin, body=False)

            def do_GET(self):
                server._answer(self, origin, body=True)

        return Handler

    def _answer(self, h: BaseHTTPRequestHandler, origin: str, body: bool) -> None:
        self.requests.append((origin, h.command, h.path))
        path = h.path.split("?", 1)[0]
        if origin == "cdn":
            return self._blob(h, path, body)
        if path == "/":
            return self._send(h, 200, {"Content-Type": "text/html"}, b"<html>hub</html>", body)
        m = re.fullmatch(r"/([^/]+)/([^/]+)/resolve/([^/]+)/(.+)", path)
        if not m:
            return self._error(h, 404, "EntryNotFound", "Not found", body)
        org, name, revision, filename = m.groups()
        folder = self.root / f"models--{org}--{name}"
        if not folder.is_dir():
            return self._error(h, 401, "RepoNotFound", "Repository not found", body)
        commit = revision if (folder / "snapshots" / revision).is_dir() else None
        ref = folder / "refs" / revision
        if commit is None and ref.is_file():
            commit = ref.read_text().strip()
        if commit is None:
            return self._error(h, 404, "RevisionNotFound", f"Invalid rev id: {revision}", body)
        file = folder / "snapshots" / commit / filename
        if not file.is_file():
            return self._error(h, 404, "EntryNotFound", f"{filename} does not exist on \"{revision}\"",
                               body, {"X-Repo-Commit": commit})
        data_path = file.resolve()
        size = data_path.stat().st_size
        if size >= LFS_THRESHOLD or filename.endswith(_LFS_SUFFIXES):
            sha = data_path.name if re.fullmatch(r"[0-9a-f]{64}", data_path.name) else _sha256(data_path)
            pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {size}\n".encode()
            location = f"{self.cdn}/{folder.name}/{sha}?X-Amz-Signature=test"
            return self._send(h, 302, {"Location": location, "X-Repo-Commit": commit,
                                       "X-Linked-Etag": f'"{sha}"', "X-Linked-Size": str(size),
                                       "ETag": f'"{_git_blob_sha1(pointer)}"'},
                              f"Found. Redirecting to {location}".encode(), body)
        data = data_path.read_bytes()
        return self._send(h, 200, {"ETag": f'"{_git_blob_sha1(data)}"', "X-Repo-Commit": commit,
                                   "Accept-Ranges": "bytes"}, data, body)

    def _blob(self, h, path: str, body: bool) -> None:
        m = re.fullmatch(r"/(models--[^/]+)/([0-9a-f]{64})", path)
        blob = self.root / m.group(1) / "blobs" / m.group(2) if m else None
        if blob is None or not blob.is_file():
            return self._send(h, 404, {"Content-Type": "text/plain"}, b"NoSuchKey", body)
        size = blob.stat().st_size
        start = 0
        rng = re.fullmatch(r"bytes=(\d+)-", h.headers.get("Range", ""))
        if rng:
            start = int(rng.group(1))
        headers = {"ETag": f'"{m.group(2)}"', "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}
        status = 200
        if start:
            status = 206
            headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(size - start))
        h.end_headers()
        if body:
            with open(blob, "rb") as f:
                f.seek(start)
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.wfile.write(chunk)

    def _error(self, h, status, code, message, body, extra=None):
        headers = {"X-Error-Code": code, "X-Error-Message": message,
                   "Content-Type": "application/json", **(extra or {})}
        self._send(h, status, headers, ('{"error": "%s"}' % message).encode(), body)

    @staticmethod
    def _send(h, status, headers, data: bytes, body: bool) -> None:
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if body:
            h.wfile.write(data)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()


def free_port() -> int:
    """A port nothing listens on (it was free a moment ago): connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SilentServer:
    """A hub that hangs: the port accepts connections (the kernel completes the handshake
    from the listen backlog) but nothing ever answers a request."""

    def __enter__(self):
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.endpoint = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        return self

    def __exit__(self, *exc):
        self._sock.close()


def put_file(root: Path, repo_id: str, filename: str, data: bytes, revision: str = "main") -> str:
    """Add one file to a hub-layout folder as huggingface_hub stores a download (blob named
    by its sha256, relative symlink from the snapshot, ``refs/<revision>``); the commit."""
    import os

    folder = Path(root) / ("models--" + repo_id.replace("/", "--"))
    ref = folder / "refs" / revision
    sha = hashlib.sha256(data).hexdigest()
    commit = ref.read_text().strip() if ref.is_file() else hashlib.sha1(f"{repo_id}{sha}".encode()).hexdigest()
    blob = folder / "blobs" / sha
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    link = folder / "snapshots" / commit / filename
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.relpath(blob, link.parent), link)
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(commit)
    return commit
