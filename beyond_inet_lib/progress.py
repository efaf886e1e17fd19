"""Progress bars: one kind for the whole package (predictions, zero-shot heads, stand-ins,
downloads, a run's work units).

On a terminal, tqdm's live bar. When the output is a file or a pipe (a log, CI, ``make
report > log``), a live bar would write a carriage return per refresh (hundreds of them
on one line of a log); there the bar writes a plain line instead: one when it starts,
one every ``LOG_INTERVAL_S`` seconds while it runs, and one when it ends.

A leaf module: it imports nothing of the package.
"""

from __future__ import annotations

import sys

from tqdm.std import tqdm as _tqdm

#: seconds between two lines of a bar written to a log
LOG_INTERVAL_S = 30.0
#: longest description a bar shows (a run over many models and resolutions names them all)
DESC_CHARS = 90


def is_terminal(stream) -> bool:
    """True when ``stream`` is an interactive terminal."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):   # no isatty, or a closed file
        return False


class LogBar(_tqdm):
    """A tqdm that writes whole lines (its usual text and a newline), at most one every
    ``mininterval`` seconds, plus one when it starts and one when it ends: for logs."""

    def __init__(self, *args, **kw):
        kw.setdefault("mininterval", LOG_INTERVAL_S)
        kw.setdefault("maxinterval", kw["mininterval"])
        kw["leave"] = False                # the closing line is written by close() below
        kw["dynamic_ncols"] = False
        kw.setdefault("ascii", True)
        super().__init__(*args, **kw)

    def refresh(self, nolock=False, lock_args=None):
        # set_postfix(refresh=True) refreshes on every call (a run's bar, about once a
        # second): a log gets at most one line per interval
        last = getattr(self, "_shown_t", None)
        if last is not None and self._time() - last < self.mininterval:
            return False
        return super().refresh(nolock=nolock, lock_args=lock_args)

    def display(self, msg=None, pos=None):
        if msg == "":                      # tqdm's "clear the line": nothing to clear in a log
            return False
        self.fp.write((self.__str__() if msg is None else msg) + "\n")
        self.fp.flush()
        self._shown_n, self._shown_t = self.n, self._time()
        return True

    def close(self):
        if not self.disable and self.n != getattr(self, "_shown_n", None):
            self.display()                 # the final count, unless the last line showed it
        super().close()


def bar_class(file=None) -> type:
    """The tqdm class for output to ``file`` (default: stderr now): tqdm's own on a
    terminal, ``LogBar`` otherwise. For libraries that take a tqdm class."""
    return _tqdm if is_terminal(sys.stderr if file is None else file) else LogBar


def bar(iterable=None, *, desc: str = "", enabled: bool = True, file=None, **kw):
    """A progress bar over ``iterable`` (or ``total=``), tqdm's arguments otherwise: a live
    bar on a terminal, plain lines in a log (see the module docstring). ``enabled`` False:
    a bar that shows nothing. ``desc`` is cut to ``DESC_CHARS``."""
    file = sys.stderr if file is None else file
    return bar_class(file)(iterable, desc=short(desc), disable=not enabled, file=file, **kw)


def short(text: str, limit: int = DESC_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis where it was cut."""
    text = str(text or "")
    return text if len(text) <= limit else text[:limit - 1].rstrip(", ") + "…"


def models_label(keys) -> str:
    """The models of one pass in a few words: keys that differ only by resolution
    (``key@R``) are named once with their resolutions, models with the same resolutions
    together ('efficientnet_lite0, efficientnet_lite1 @112-640 (5)')."""
    groups: dict[str, list[str]] = {}
    for k in keys:
        base, _, res = str(k).partition("@")
        groups.setdefault(base, [])
        if res:
            groups[base].append(res)
    by_res: dict[tuple, list[str]] = {}
    for base, res in groups.items():
        order = tuple(sorted(res, key=lambda r: (not r.isdigit(), int(r) if r.isdigit() else 0, r)))
        by_res.setdefault(order, []).append(base)
    parts = []
    for res, bases in by_res.items():
        names = ", ".join(bases)
        if not res:
            parts.append(names)
        elif len(res) == 1:
            parts.append(f"{names} @{res[0]}")
        else:
            parts.append(f"{names} @{res[0]}-{res[-1]} ({len(res)})")
    return short(", ".join(parts))
