"""The Hugging Face hub as a dataset source: a repository's file listing (each file with
its LFS sha256 or git blob id), and one file of it fetched, resumed and verified.

The access rules are the models' (``models.hub``): ``HF_HUB_OFFLINE=1`` -> nothing is
tried; the endpoint (``HF_ENDPOINT``, for mirrors) must answer a probe within
``BEYOND_INET_HUB_TIMEOUT`` seconds (default 3); each later request of the listing must
answer within twice that. The listing goes through huggingface_hub (``list_repo_tree``:
pagination, endpoint, the token from ``HF_TOKEN`` or a saved login); files through the
package's own resumable download (``transfer.download``: ``.part`` files resumed with
HTTP Range, a progress bar, the checksum verified before the file gets its name), with
the token sent to the hub only, never to the storage host an LFS file redirects to.

Gated repositories (ImageNet-1k) answer 401 without a token and 403 with a token whose
account has not accepted the terms; both become a ``HubGated`` error that says exactly
what to do.
"""

from __future__ import annotations

import fnmatch
import queue
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import DownloadError, ManualDownloadRequired
from .transfer import HttpSettings, HttpStatus

TOKEN_URL = "https://huggingface.co/settings/tokens"


class HubGated(ManualDownloadRequired):
    """A gated repository without a token, or with a token that has no access: the
    message lists the steps (accept the terms, a token) and any way around the hub."""


@dataclass(frozen=True)
class HubFile:
    """One file of a repository listing: its path, size, and what verifies it (the LFS
    sha256 for a file stored in LFS, else git's blob id), and, when the listing was
    expanded, the date of the last commit that touched it."""

    path: str
    size: int
    sha256: str | None
    git_oid: str
    last_commit: str = ""

    @property
    def checksum(self) -> str:
        """``sha256:<hex>`` (LFS) or ``git-sha1:<hex>``: what the downloaded bytes must hash to."""
        return f"sha256:{self.sha256}" if self.sha256 else f"git-sha1:{self.git_oid}"


def _access():
    """models.hub's rules (imported late: that package imports torch)."""
    from ..models import hub

    return hub


def hub_token() -> str | None:
    """The token huggingface_hub would send: HF_TOKEN, else a saved login; None without."""
    from huggingface_hub import get_token

    return get_token()


def dataset_url(repo: str) -> str:
    """The repository's page on the hub (or the mirror HF_ENDPOINT names)."""
    return f"{_access().hub_endpoint()}/datasets/{repo}"


def gated_message(repo: str, what: str, command: str, token: bool, alternative: str = "",
                  status: int | None = None) -> str:
    """What to do about a gated repository: without a token, with a token the hub refused
    (401), or with one whose account has not accepted the terms (403)."""
    page = dataset_url(repo)
    if not token:
        head = (f"{what}: {repo} on the Hugging Face hub is gated: it needs HF_TOKEN (a token of an account "
                f"that has accepted its terms).\n"
                f"  1. Log in at {page} and accept the terms (access is granted at once).\n"
                f"  2. Create a read token at {TOKEN_URL}.\n"
                f"  3. Run: HF_TOKEN=hf_... {command}   (or `hf auth login` once, then the command alone)")
    elif status == 401:
        head = (f"{what}: the hub rejected the token in HF_TOKEN (or the saved login) for {repo}: it is "
                f"mistyped, expired or revoked. Create a read token at {TOKEN_URL}, then run: "
                f"HF_TOKEN=hf_... {command}")
    else:
        head = (f"{what}: the token in HF_TOKEN (or the saved login) has no access to {repo}: its account has "
                f"not accepted the terms. Log in with that account at {page}, accept them (access is "
                f"granted at once), then run the command again: {command}")
    return head + (f"\n  Or: {alternative}" if alternative else "")


# -------------------------------------------------------------------- listing
def list_repo_files(repo: str, revision: str, *, expand: bool = False) -> list[HubFile]:
    """Every file of dataset repository ``repo`` at ``revision`` (recursive listing; with
    ``expand`` each file's last commit date too). Raises ``DownloadError`` with the reason
    when the hub may not or cannot be reached, or lacks the repository or revision."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    hub = _access()
    try:
        endpoint, timeout = hub.check_hub()
    except hub.HubUnavailable as e:
        raise DownloadError(f"cannot list {repo} on the Hugging Face hub: {e}") from None
    api = HfApi(endpoint=endpoint)
    items: queue.Queue = queue.Queue()

    def walk():
        try:
            for entry in api.list_repo_tree(repo, recursive=True, expand=expand, revision=revision,
                                            repo_type="dataset", token=hub_token()):
                items.put(("entry", entry))
            items.put(("done", None))
        except BaseException as e:  # handed to the caller's thread
            items.put(("error", e))

    threading.Thread(target=walk, name="beyond-inet-hub-listing", daemon=True).start()
    files, wait = [], 2 * timeout
    while True:
        try:
            kind, value = items.get(timeout=wait)
        except queue.Empty:
            raise DownloadError(f"{endpoint} stopped answering while listing {repo}@{revision} "
                                f"(nothing within {wait:g} s)") from None
        if kind == "done":
            return files
        if kind == "error":
            if isinstance(value, GatedRepoError):
                raise HubGated(f"{repo}: the hub refused the listing (gated): {value}") from None
            if isinstance(value, RepositoryNotFoundError):
                raise DownloadError(f"{endpoint} has no dataset repository {repo} (or it is private)") from None
            if isinstance(value, RevisionNotFoundError):
                raise DownloadError(f"{endpoint}/datasets/{repo} has no revision {revision!r}") from None
            raise DownloadError(f"listing {repo}@{revision} on {endpoint} failed "
                                f"({type(value).__name__}: {value})") from None
        if getattr(value, "blob_id", None) is None:   # a folder
            continue
        lfs = value.lfs
        commit = value.last_commit.date.isoformat() if getattr(value, "last_commit", None) else ""
        files.append(HubFile(value.path, int(value.size), lfs.sha256 if lfs else None, value.blob_id, commit))


def select(files: list[HubFile], patterns) -> list[HubFile]:
    """The files whose repository path matches one of the fnmatch ``patterns``, sorted by path."""
    return sorted((f for f in files if any(fnmatch.fnmatchcase(f.path, p) for p in patterns)),
                  key=lambda f: f.path)


# ---------------------------------------------------------------------- files
def file_url(repo: str, path: str, revision: str) -> str:
    """``<endpoint>/datasets/<repo>/resolve/<revision>/<path>`` (huggingface_hub's shape)."""
    from huggingface_hub import hf_hub_url

    return hf_hub_url(repo, path, repo_type="dataset", revision=revision, endpoint=_access().hub_endpoint())


def fetch_file(repo: str, revision: str, file: HubFile, dest: Path, http: HttpSettings, *,
               gated_help=None) -> Path:
    """Download ``file`` of ``repo`` to ``dest`` (through ``dest.part``, resumed), verified
    against its listed checksum before it gets its name (a mismatch deletes it and raises
    ``ChecksumMismatch``). 401/403 from a gated repository raise ``HubGated`` with
    ``gated_help(status)`` as the message."""
    hub = _access()
    if hub.hub_offline_mode():
        raise DownloadError("HF_HUB_OFFLINE=1 is set here, so nothing is downloaded from the hub (unset it if "
                            "this machine can reach the hub)")
    token = hub_token()
    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        return http.download(file_url(repo, file.path, revision), dest, checksum=file.checksum, headers=headers)
    except HttpStatus as e:
        code = str(e.headers.get("X-Error-Code") or e.headers.get("x-error-code") or "")
        if e.status in (401, 403) and (code == "GatedRepo" or gated_help is not None):
            raise HubGated(gated_help(e.status) if gated_help else f"{repo} is gated: {e}") from None
        raise
