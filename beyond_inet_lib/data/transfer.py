"""Fetching one file over HTTP(S): resume, checksum, timeouts, host rewrites.

``download(url, dest)`` writes ``dest`` through ``dest.part``: an interrupted transfer
resumes with ``Range: bytes=<size of .part>-`` (a server that ignores it answers 200 and
the file starts over), both within one call (a few retries while attempts make progress)
and across calls. A known checksum (``"sha256:<hex>"`` or ``"md5:<hex>"``) is verified
before the file gets its final name; a mismatch deletes it and raises ``ChecksumMismatch``.
Redirects are followed (GitHub answers a release-asset URL with a 302 to a storage host).

Timeouts: connecting (TCP + TLS) gives up after ``BEYOND_INET_TIMEOUT`` seconds (default
5), so a machine without network fails in seconds; a connection that then stalls gives up
after ``BEYOND_INET_READ_TIMEOUT`` seconds (default 60) and is resumed if it had made
progress.

Host rewrites: ``BEYOND_INET_URL_REWRITE="https://github.com=http://mirror/github,
https://raw.githubusercontent.com=http://mirror/raw"`` sends every URL that starts with a
listed prefix (at a ``/`` boundary; the longest prefix wins) to its replacement, keeping
the rest of the path. Redirect targets are rewritten too.
"""

from __future__ import annotations

import http.client
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ChecksumMismatch, DownloadError
from ..files import file_checksum

TIMEOUT_ENV = "BEYOND_INET_TIMEOUT"
READ_TIMEOUT_ENV = "BEYOND_INET_READ_TIMEOUT"
URL_REWRITE_ENV = "BEYOND_INET_URL_REWRITE"
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_READ_TIMEOUT_S = 60.0
CHUNK_BYTES = 1 << 20
RETRIES_AFTER_PROGRESS = 5


class _Truncated(ConnectionError):
    """The server closed the connection before sending all announced bytes."""


class HttpStatus(DownloadError):
    """The server answered with an error status: ``status`` and its ``headers``."""

    def __init__(self, message: str, status: int, headers: dict):
        super().__init__(message)
        self.status, self.headers = status, headers


# --------------------------------------------------------------------- settings
def connect_timeout() -> float:
    """Seconds before connecting to a host is given up ($BEYOND_INET_TIMEOUT, default 5)."""
    return float(os.environ.get(TIMEOUT_ENV, DEFAULT_CONNECT_TIMEOUT_S))


def read_timeout() -> float:
    """Seconds a connection may stall before it is given up ($BEYOND_INET_READ_TIMEOUT)."""
    return float(os.environ.get(READ_TIMEOUT_ENV, DEFAULT_READ_TIMEOUT_S))


def parse_rewrites(text: str | None) -> dict[str, str]:
    """``"https://a=http://m/a,https://b=http://m/b"`` -> {prefix: replacement}."""
    out = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        prefix, sep, repl = item.partition("=")
        if not sep or not prefix.strip() or not repl.strip():
            raise DownloadError(f"{URL_REWRITE_ENV}: {item!r} is not '<url prefix>=<replacement>' "
                                f"(e.g. https://github.com=http://mirror.example/github)")
        out[prefix.strip().rstrip("/")] = repl.strip().rstrip("/")
    return out


def url_rewrites(rewrite: dict[str, str] | None = None) -> dict[str, str]:
    """``rewrite`` when given, else the rules of $BEYOND_INET_URL_REWRITE."""
    return dict(rewrite) if rewrite is not None else parse_rewrites(os.environ.get(URL_REWRITE_ENV))


def rewrite_url(url: str, rewrite: dict[str, str] | None = None) -> str:
    """``url`` with its longest matching prefix replaced (the path is kept)."""
    rules = url_rewrites(rewrite)
    for prefix in sorted(rules, key=len, reverse=True):
        if url == prefix or url.startswith(prefix + "/") or url.startswith(prefix + "?"):
            return rules[prefix] + url[len(prefix):]
    return url


@dataclass(frozen=True)
class HttpSettings:
    """How files are fetched: progress bars, timeouts (None: the environment's), rewrites."""

    progress: bool = True
    timeout: float | None = None
    rewrite: dict = field(default=None, hash=False, compare=False)

    def download(self, url: str, dest: Path, checksum: str | None = None, progress: bool | None = None,
                 headers: dict | None = None) -> Path:
        return download(url, dest, checksum=checksum, timeout=self.timeout, rewrite=self.rewrite,
                        progress=self.progress if progress is None else progress, headers=headers)


# ------------------------------------------------------------------- the opener
def _opener(rewrite: dict[str, str], read_s: float) -> urllib.request.OpenerDirector:
    """urllib with a read timeout distinct from the connect timeout, and redirects
    rewritten like the URLs themselves."""

    class Conn(http.client.HTTPConnection):
        def connect(self):
            super().connect()             # bounded by the connect timeout
            self.sock.settimeout(read_s)  # then each read by the read timeout

    class SConn(http.client.HTTPSConnection):
        def connect(self):
            super().connect()             # TCP and the TLS handshake
            self.sock.settimeout(read_s)

    class Http(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(Conn, req)

    class Https(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(SConn, req, context=self._context)

    class Redirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            new = super().redirect_request(req, fp, code, msg, headers, rewrite_url(newurl, rewrite))
            if new is not None and urllib.parse.urlsplit(new.full_url).netloc != urllib.parse.urlsplit(
                    req.full_url).netloc:
                # a token is for the host it was given to: the hub's LFS files redirect to a
                # storage host whose signed URL carries its own authorisation
                new.remove_header("Authorization")
            return new

    return urllib.request.build_opener(Http(), Https(), Redirects())


# ----------------------------------------------------------------- checksums
def checksum_matches(path: Path, checksum: str | None) -> bool:
    """True when ``checksum`` ("algo:hex") is None or equals the file's digest."""
    if not checksum:
        return True
    algo, _, expected = checksum.partition(":")
    return file_checksum(path, algo).lower() == expected.lower()


# -------------------------------------------------------------------- download
def _fetch_once(opener, url: str, part: Path, progress: bool, timeout: float, extra: dict | None = None) -> None:
    """One request: append to ``part`` from its current size (Range) or restart it when
    the server ignores the range. Raises ``_Truncated`` when the body ends early."""
    from ..progress import bar as progress_bar

    start = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "beyond-inet", **(extra or {})}
    if start:
        headers["Range"] = f"bytes={start}-"
    with opener.open(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
        if start and getattr(resp, "status", None) != 206:
            start = 0  # the server sent the whole file: start over
        length = resp.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        with open(part, "ab" if start else "wb") as f, \
                progress_bar(total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
                             desc=part.name[:-len(".part")], enabled=progress, leave=False) as bar:
            while chunk := resp.read(CHUNK_BYTES):
                f.write(chunk)
                bar.update(len(chunk))
    if total is not None and part.stat().st_size < total:
        raise _Truncated(f"connection closed after {part.stat().st_size:,} of {total:,} bytes")


def download(url: str, dest: Path, *, checksum: str | None = None, progress: bool = True,
             timeout: float | None = None, retries: int = RETRIES_AFTER_PROGRESS,
             rewrite: dict[str, str] | None = None, headers: dict | None = None) -> Path:
    """Fetch ``url`` (after host rewrites) to ``dest`` through ``dest.part``, resuming with
    HTTP Range; retry (resuming) while attempts make progress; verify ``checksum``; rename
    into place. ``timeout``: the connect timeout (None: $BEYOND_INET_TIMEOUT, default 5 s).
    ``headers``: extra request headers (a hub token), never sent on to another host when
    redirected. An HTTP error status raises ``HttpStatus`` (a ``DownloadError``) with it."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    rules = url_rewrites(rewrite)
    target = rewrite_url(url, rules)
    shown = url if target == url else f"{url} (via {target})"
    timeout = connect_timeout() if timeout is None else timeout
    opener = _opener(rules, read_timeout())
    while True:
        before = part.stat().st_size if part.exists() else 0
        try:
            _fetch_once(opener, target, part, progress, timeout, headers)
            break
        except urllib.error.HTTPError as e:
            if e.code == 416 and before:  # range past the end: the .part is already whole
                break
            raise HttpStatus(f"{shown}: HTTP {e.code} {e.reason}", e.code, dict(e.headers or {})) from None
        except (urllib.error.URLError, http.client.HTTPException, socket.timeout, ConnectionError, OSError) as e:
            after = part.stat().st_size if part.exists() else 0
            if after > before and retries > 0:
                retries -= 1
                continue  # progress was made: resume from the new size
            reason = getattr(e, "reason", None) or e
            raise DownloadError(f"could not download {shown}: {reason}") from None
    if not checksum_matches(part, checksum):
        part.unlink()
        raise ChecksumMismatch(f"{shown}: checksum mismatch (expected {checksum}); the file was deleted. "
                               "Run again to re-download; if it persists the source changed or is corrupt.")
    os.replace(part, dest)
    return dest
