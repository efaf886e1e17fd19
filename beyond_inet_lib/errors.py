"""The errors a user can act on. A leaf module (imports nothing of the package).

Each one's ``str()`` is the whole message: what happened and the exact thing to do. The
``beyond-inet`` command prints it on one line group, without a traceback, and exits 2;
a notebook shows it in a panel. Anything else that is raised is a bug.
"""

from __future__ import annotations


class UserError(Exception):
    """An error whose message tells the user what to do."""


class ProfileError(UserError, ValueError):
    """A profile is invalid; the message names the key and the accepted values."""


class DatasetMissing(UserError, FileNotFoundError):
    """A dataset is absent or incomplete. ``str(err)`` is the whole user-facing message."""

    def __init__(self, name: str, looked_at, layout: str, how_to_get: str, found: str = ""):
        self.name, self.looked_at, self.layout, self.how_to_get = name, looked_at, layout, how_to_get
        self.found = found
        msg = f"{name}: not found at {looked_at}."
        if found:
            msg += f" Found: {found}."
        msg += f"\nExpected layout: {layout}\nGet it with: {how_to_get}"
        super().__init__(msg)

    def __reduce__(self):  # picklable across processes (DataLoader workers, Ray)
        return (type(self), (self.name, self.looked_at, self.layout, self.how_to_get, self.found))


class WeightsNotFound(UserError, RuntimeError):
    """Pretrained weights are not on this machine and cannot be downloaded here. The
    message says what to run where."""


class DownloadError(UserError, RuntimeError):
    """A download or unpack failed; ``str(err)`` says what to do."""


class ChecksumMismatch(DownloadError):
    """A file's checksum differs from the known one (the file was deleted)."""


class ManualDownloadRequired(DownloadError):
    """A dataset that cannot be fetched automatically (license-gated, or no direct URL);
    ``str(err)`` lists the manual steps."""


class EngineError(UserError, RuntimeError):
    """A pass could not run; the message says what to do."""


class DiskFull(EngineError):
    """The disk filled up while writing; what was written before is intact."""


def did_you_mean(word, choices) -> str:
    """' (did you mean 'x'?)' for the choice closest to ``word``, '' when none is close."""
    import difflib

    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class DatasetInvalid(UserError, ValueError):
    """A dataset is there but cannot be used as it is (an unknown label, an empty split, a
    missing image, a corrupt shard). ``str(err)`` says what is wrong and the fix."""

    def __init__(self, name: str, problem: str, fix: str):
        self.name, self.problem, self.fix = name, problem, fix

        def stop(text):
            return text if text.endswith(".") else text + "."

        super().__init__(f"{name}: {stop(problem)}\nFix: {stop(fix)}")

    def __reduce__(self):  # picklable across processes
        return (type(self), (self.name, self.problem, self.fix))
