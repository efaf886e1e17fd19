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

Dataset repositories (``HubServer(root, datasets=DIR)``): ``DIR/<org>/<name>/`` holds a
repository's files at their repository paths, served as the hub serves a dataset repo
(huggingface_hub's ``list_repo_tree`` and ``hf_hub_url`` shapes):

``GET <endpoint>/api/datasets/<org>/<name>/tree/<revision>[/<path>]?recursive=&expand=``
  a JSON list of ``{"type": "file", "oid": <git blob sha1>, "size", "path", "lfs": {"oid":
  <sha256>, "size", "pointerSize"}}`` (``lfs`` for files stored in LFS: tars, parquet,
  archives, or 10 MB and more) and ``{"type": "directory", ...}``; with ``expand`` each
  file's ``lastCommit`` ({id, title, date}: ``commit_dates``); ``page_size`` entries per
  page, the next page in a ``Link: <...>; rel="next"`` header.
``HEAD|GET <endpoint>/datasets/<org>/<name>/resolve/<revision>/<path>``: as for models
  (LFS: 302 to ``<cdn>/datasets--<org>--<name>/<sha256>``; git: 200).
Revisions answered: ``main``, the repository's commit (``dataset_commit``) and those in
``revisions[repo]``. ``gated[repo]`` = the tokens granted access: without an
``Authorization`` header a resolve answers 401, with another token 403 (``X-Error-Code:
GatedRepo``, as the hub does; the listing stays public). Faults for tests: ``corrupt``
({(repo, path): number of answers}) serves the file with its first byte flipped that many
times; ``cut`` ({(repo, path): n}) closes the connection after n bytes once (a resumed
download asks the rest with Range).
"""

from __future__ import annotations

import hashlib
import json
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

    def __init__(self, root: Path, datasets: Path | None = None):
        self.root = Path(root)
        self.datasets = Path(datasets) if datasets is not None else None
        self.revisions: dict[str, list[str]] = {}
        self.gated: dict[str, set[str]] = {}
        self.commit_dates: dict[tuple[str, str], str] = {}
        self.corrupt: dict[tuple[str, str], int] = {}
        self.cut: dict[tuple[str, str], int] = {}
        self.page_size = 1000
        self._sha_cache: dict[tuple[str, int, int], str] = {}
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
            if path.startswith("/datasets--"):
                return self._dataset_blob(h, path, body)
            return self._blob(h, path, body)
        if path == "/":
            return self._send(h, 200, {"Content-Type": "text/html"}, b"<html>hub</html>", body)
        if path.startswith(("/api/datasets/", "/datasets/")):
            return self._dataset(h, path, body)
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

    # ------------------------------------------------------------- dataset repos
    def _repo_folder(self, repo: str) -> Path | None:
        if self.datasets is None:
            return None
        folder = self.datasets / repo
        return folder if folder.is_dir() else None

    def _sha256(self, path: Path) -> str:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key not in self._sha_cache:
            self._sha_cache[key] = _sha256(path)
        return self._sha_cache[key]

    @staticmethod
    def _is_lfs(rel: str, size: int) -> bool:
        return size >= LFS_THRESHOLD or rel.endswith(_LFS_SUFFIXES + (".tar", ".parquet", ".gz", ".zip"))

    def _entry(self, repo: str, folder: Path, file: Path, expand: bool) -> dict:
        rel = file.relative_to(folder).as_posix()
        data_size = file.stat().st_size
        entry = {"type": "file", "size": data_size, "path": rel}
        if self._is_lfs(rel, data_size):
            sha = self._sha256(file)
            pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {data_size}\n".encode()
            entry.update(oid=_git_blob_sha1(pointer), lfs={"oid": sha, "size": data_size, "pointerSize": len(pointer)})
        else:
            entry["oid"] = _git_blob_sha1(file.read_bytes())
        if expand:
            entry["lastCommit"] = {"id": dataset_commit(repo), "title": "Upload",
                                   "date": self.commit_dates.get((repo, rel), "2023-01-20T00:00:00.000Z")}
        return entry

    def _dataset(self, h, path: str, body: bool) -> None:
        from urllib.parse import parse_qs, urlsplit

        query = parse_qs(urlsplit(h.path).query)
        m = re.fullmatch(r"/api/datasets/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?", path) or \
            re.fullmatch(r"/datasets/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if not m:
            return self._error(h, 404, "EntryNotFound", "Not found", body)
        repo, revision, rel = m.group(1), m.group(2), m.group(3) or ""
        folder = self._repo_folder(repo)
        if folder is None:
            return self._error(h, 401, "RepoNotFound", "Repository not found", body)
        commit = dataset_commit(repo)
        if revision not in {"main", commit, *self.revisions.get(repo, ())}:
            return self._error(h, 404, "RevisionNotFound", f"Invalid rev id: {revision}", body)
        if path.startswith("/api/"):
            recursive = query.get("recursive", ["False"])[0].lower() == "true"
            expand = query.get("expand", ["False"])[0].lower() == "true"
            base = folder / rel
            if not base.is_dir():
                return self._error(h, 404, "EntryNotFound", f"{rel} does not exist", body, {"X-Repo-Commit": commit})
            found = sorted(base.rglob("*") if recursive else base.iterdir())
            entries = []
            for p in found:
                if p.is_dir():
                    entries.append({"type": "directory", "oid": "0" * 40, "size": 0,
                                    "path": p.relative_to(folder).as_posix()})
                else:
                    entries.append(self._entry(repo, folder, p, expand))
            start = int(query.get("cursor", ["0"])[0])
            page = entries[start:start + self.page_size]
            headers = {"Content-Type": "application/json"}
            if start + self.page_size < len(entries):
                nxt = (f"{self.endpoint}{path}?recursive={str(recursive)}&expand={str(expand)}"
                       f"&cursor={start + self.page_size}")
                headers["Link"] = f'<{nxt}>; rel="next"'
            return self._send(h, 200, headers, json.dumps(page).encode(), body)
        if repo in self.gated:
            auth = h.headers.get("Authorization", "")
            if not auth:
                return self._error(h, 401, "GatedRepo", f"Access to dataset {repo} is restricted. You must have "
                                   "access to it and be authenticated to access it. Please log in.", body)
            if auth.removeprefix("Bearer ") not in self.gated[repo]:
                return self._error(h, 403, "GatedRepo", f"Access to dataset {repo} is restricted and you are not "
                                   "in the authorized list.", body)
        file = folder / rel
        if not file.is_file():
            return self._error(h, 404, "EntryNotFound", f"{rel} does not exist on \"{revision}\"", body,
                               {"X-Repo-Commit": commit})
        size = file.stat().st_size
        if self._is_lfs(rel, size):
            sha = self._sha256(file)
            location = f"{self.cdn}/datasets--{repo.replace('/', '--')}/{sha}?X-Amz-Signature=test"
            return self._send(h, 302, {"Location": location, "X-Repo-Commit": commit,
                                       "X-Linked-Etag": f'"{sha}"', "X-Linked-Size": str(size)},
                              f"Found. Redirecting to {location}".encode(), body)
        data = file.read_bytes()
        return self._send(h, 200, {"ETag": f'"{_git_blob_sha1(data)}"', "X-Repo-Commit": commit,
                                   "Accept-Ranges": "bytes"}, data, body)

    def _dataset_blob(self, h, path: str, body: bool) -> None:
        m = re.fullmatch(r"/datasets--([^/]+)--([^/]+)/([0-9a-f]{64})", path)
        repo = f"{m.group(1)}/{m.group(2)}" if m else ""
        folder = self._repo_folder(repo) if m else None
        if "Authorization" in h.headers:   # the storage host never gets the hub token
            return self._send(h, 400, {"Content-Type": "text/plain"}, b"Only one auth mechanism allowed", body)
        file = next((p for p in sorted(folder.rglob("*")) if p.is_file() and self._is_lfs(
            p.relative_to(folder).as_posix(), p.stat().st_size) and self._sha256(p) == m.group(3)),
            None) if folder else None
        if file is None:
            return self._send(h, 404, {"Content-Type": "text/plain"}, b"NoSuchKey", body)
        key = (repo, file.relative_to(folder).as_posix())
        data = file.read_bytes()
        if self.corrupt.get(key, 0) > 0 and body:
            self.corrupt[key] -= 1
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start = 0
        rng = re.fullmatch(r"bytes=(\d+)-", h.headers.get("Range", ""))
        if rng:
            start = int(rng.group(1))
        h.send_response(206 if start else 200)
        h.send_header("ETag", f'"{m.group(3)}"')
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("Content-Type", "application/octet-stream")
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        h.send_header("Content-Length", str(len(data) - start))
        h.end_headers()
        if not body:
            return
        cut = self.cut.pop(key, None) if not start else None
        if cut is not None:
            h.wfile.write(data[start:cut])
            h.wfile.flush()
            h.close_connection = True
            return
        h.wfile.write(data[start:])

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


def dataset_commit(repo: str) -> str:
    """The commit id the loopback hub gives dataset repository ``repo`` (stable)."""
    return hashlib.sha1(f"dataset {repo}".encode()).hexdigest()


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
