"""The Hugging Face hub: may this machine reach it, can it, and fetching one file with the
libraries' own client (huggingface_hub) into the usual cache, with a progress bar.

``weights.py`` asks only after the local caches missed. The decision, in order:

1. ``HF_HUB_OFFLINE=1`` (in the environment, or huggingface_hub's constant) -> offline: no
   connection is attempted at all.
2. A probe of the endpoint (``HF_ENDPOINT``, default https://huggingface.co): one HEAD
   request, given ``BEYOND_INET_HUB_TIMEOUT`` seconds (default 3) in all, name lookup
   included (it runs in a thread we stop waiting for) -> no answer: unreachable.
3. Reachable -> the file's metadata (HEAD, no retries) and the download itself, with
   huggingface_hub's metadata and read timeouts capped at twice the probe's, so a
   connection that dies half-way fails in seconds, not minutes.

Each refusal is a ``HubUnavailable`` whose message is one sentence saying why; the caller
turns it into a ``WeightsNotFound`` that says what to run and what to copy.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import sys
import threading
from pathlib import Path

from ..paths import env_var, progress_enabled

HUB_TIMEOUT_ENV = "BEYOND_INET_HUB_TIMEOUT"
DEFAULT_HUB_TIMEOUT = 3.0
DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "ON", "YES", "TRUE"}


class HubUnavailable(Exception):
    """The hub cannot provide a file here; ``str()`` says why, in one sentence."""


# --------------------------------------------------------------------------- settings
def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, resolved from the environment now (HF_HUB_CACHE, else
    HF_HOME/hub, else XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface")
    return Path(home).expanduser() / "hub"


def hub_endpoint() -> str:
    """The hub's address, from the environment now (HF_ENDPOINT), else huggingface_hub's."""
    env = os.environ.get("HF_ENDPOINT")
    if env:
        return env.rstrip("/")
    try:
        from huggingface_hub import constants
        return constants.ENDPOINT.rstrip("/")
    except ImportError:
        return DEFAULT_ENDPOINT


def hub_timeout() -> float:
    """Seconds the reachability probe may take (``BEYOND_INET_HUB_TIMEOUT``, default 3)."""
    raw = os.environ.get(HUB_TIMEOUT_ENV, "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_HUB_TIMEOUT
    except ValueError:
        raise ValueError(f"{HUB_TIMEOUT_ENV}={raw!r}: expected a number of seconds") from None
    if value <= 0:
        raise ValueError(f"{HUB_TIMEOUT_ENV}={raw!r}: must be > 0")
    return value


def hub_offline_mode() -> bool:
    """True when HF_HUB_OFFLINE is set (now, in the environment) or huggingface_hub was
    imported with it set: then nothing may try the network."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in _TRUE:
        return True
    try:
        from huggingface_hub import constants
        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:
        return False


@contextlib.contextmanager
def hub_offline():
    """HF_HUB_OFFLINE=1 for the duration (env and huggingface_hub's constant), so that no
    library call below can reach the network even if our own cache check missed a case."""
    try:
        from huggingface_hub import constants
        old_const = constants.HF_HUB_OFFLINE
        constants.HF_HUB_OFFLINE = True
    except ImportError:  # no hub client: nothing to switch off
        constants = old_const = None
    try:
        with env_var("HF_HUB_OFFLINE", "1"):
            yield
    finally:
        if constants is not None:
            constants.HF_HUB_OFFLINE = old_const


# ------------------------------------------------------------------------------ probe
def probe(endpoint: str, timeout: float) -> str | None:
    """None when ``endpoint`` answers an HTTP HEAD (any status) within ``timeout`` seconds,
    else why not. Through huggingface_hub's own client (same proxies and certificates as
    the download). The request runs in a daemon thread so that a name lookup that hangs
    (resolver timeouts are not ours to set) is not waited for either."""
    from huggingface_hub.utils import get_session

    outcome: dict = {}

    def ask():
        try:
            get_session().head(endpoint + "/", timeout=timeout, follow_redirects=False)
            outcome["ok"] = True
        except Exception as e:  # connect refused, timeout, name lookup, TLS: all "unreachable"
            outcome["error"] = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__

    worker = threading.Thread(target=ask, name="beyond-inet-hub-probe", daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    if worker.is_alive():
        return f"no answer within {timeout:g} s"
    return None if outcome.get("ok") else outcome.get("error", "no answer")


def check_hub() -> tuple[str, float]:
    """(endpoint, timeout) when the hub may and can be reached; else ``HubUnavailable``."""
    if hub_offline_mode():
        raise HubUnavailable("HF_HUB_OFFLINE=1 is set here, so nothing is downloaded (unset it "
                             "if this machine can reach the hub)")
    endpoint, timeout = hub_endpoint(), hub_timeout()
    why = probe(endpoint, timeout)
    if why is not None:
        raise HubUnavailable(f"{endpoint} did not answer within {timeout:g} s ({why})")
    return endpoint, timeout


# --------------------------------------------------------------------------- download
@contextlib.contextmanager
def _capped_timeouts(seconds: float):
    """huggingface_hub's metadata (etag) and download read timeouts at most ``seconds`` for
    the duration, its retry of a failed metadata request included."""
    from huggingface_hub import constants, file_download

    saved = [(constants, "HF_HUB_ETAG_TIMEOUT"), (constants, "HF_HUB_DOWNLOAD_TIMEOUT"),
             (file_download, "_ETAG_RETRY_TIMEOUT")]
    saved = [(obj, name, getattr(obj, name)) for obj, name in saved if hasattr(obj, name)]
    try:
        for obj, name, value in saved:
            setattr(obj, name, min(value, seconds) if isinstance(value, (int, float)) else seconds)
        yield
    finally:
        for obj, name, value in saved:
            setattr(obj, name, value)


def _quiet_tqdm():
    from tqdm.auto import tqdm

    return functools.partial(tqdm, disable=True)


def _tqdm_class():
    """huggingface_hub's download bar: the package's kind (plain lines in a log), or none."""
    from ..progress import bar_class

    return bar_class() if progress_enabled() else _quiet_tqdm()


def download_first(repo_id: str, filenames, revision: str | None = None, *, what: str = "",
                   missing_ok: bool = False) -> str | None:
    """Download the first of ``filenames`` that the hub repo ``repo_id`` holds into the hub
    cache (``hf_cache_dir()``), exactly as timm / open_clip would (huggingface_hub's
    ``hf_hub_download``: blobs, snapshots, refs), and return its local path. Candidates are
    tried in order (timm and open_clip prefer a .safetensors twin of a .bin).
    ``HubUnavailable`` when the hub may not or cannot be reached or lacks the repo / files
    (with ``missing_ok``, a repo without any of the files gives None)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.errors import (
        EntryNotFoundError, GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError,
    )

    endpoint, timeout = check_hub()
    io_timeout = 2 * timeout
    where = f"{repo_id}" + (f"@{revision}" if revision else "")
    with _capped_timeouts(io_timeout):
        for filename in filenames:
            url = hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint)
            try:
                meta = get_hf_file_metadata(url, timeout=io_timeout)
            except GatedRepoError:
                raise HubUnavailable(f"{endpoint}/{repo_id} is gated: accept its terms on the hub and "
                                     f"log in (`hf auth login` or HF_TOKEN)") from None
            except RepositoryNotFoundError:
                raise HubUnavailable(f"{endpoint} has no repository {repo_id} (or it needs a login: "
                                     f"HF_TOKEN)") from None
            except RevisionNotFoundError:
                raise HubUnavailable(f"{endpoint}/{repo_id} has no revision {revision!r}") from None
            except EntryNotFoundError:
                continue  # the hub said 404 for this name: try the next candidate
            except Exception as e:
                raise HubUnavailable(f"{endpoint} stopped answering while looking up {where}/{filename} "
                                     f"({type(e).__name__}: {e})") from None
            if progress_enabled():
                size = f", {meta.size / 1e6:,.0f} MB" if meta.size else ""
                print(f"[beyond-inet] {what or where}: downloading {where}/{filename}{size} from "
                      f"{endpoint} into {hf_cache_dir()}", file=sys.stderr, flush=True)
            try:
                return hf_hub_download(repo_id, filename, revision=revision, endpoint=endpoint,
                                       cache_dir=str(hf_cache_dir()), etag_timeout=io_timeout,
                                       tqdm_class=_tqdm_class())
            except Exception as e:  # a dropped connection, ...: nothing half-written is kept
                if isinstance(e, OSError) and e.errno == errno.ENOSPC:
                    raise  # a full disk is not the hub's fault: the caller says what to free
                raise HubUnavailable(f"downloading {where}/{filename} from {endpoint} failed "
                                     f"({type(e).__name__}: {e})") from None
    if missing_ok:
        return None
    raise HubUnavailable(f"{endpoint}/{where} holds none of {', '.join(filenames)}")


def repo_folder(repo_id: str, cache: Path | None = None) -> Path:
    """The folder huggingface_hub keeps a model repo in: ``<cache>/models--<org>--<name>``."""
    return Path(cache or hf_cache_dir()) / ("models--" + repo_id.replace("/", "--"))
