"""Output paths checked before any work starts (``--json OUT``, ``--plot PNG``, ``--out PDF``).

A command that is going to write a file says what is wrong with the path *before* it reads
a byte of input: a directory where a file is wanted, a missing or unwritable folder, or a
suffix the writer cannot produce — never a traceback after the verdict is printed, and
never the name of a temporary file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ventbench.errors import ConfigError

#: Figure formats the plots can be written in (matplotlib's raster and vector back ends).
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def check_output_file(path: str | os.PathLike, option: str,
                      suffixes: Iterable[str] | None = None) -> Path:
    """``path`` as a Path when a file can be written there; else a ConfigError naming
    ``option`` and the path.

    The folder must exist (or be creatable inside an existing, writable one), ``path``
    must not be a directory, and its suffix must be one of ``suffixes`` when given.
    """
    out = Path(path)
    if out.is_dir() or str(path).endswith(os.sep):
        raise ConfigError(f"{option} {path}: is a directory; give a file name inside it "
                          f"(e.g. {out / ('results.json' if option == '--json' else 'plot.png')})")
    if suffixes is not None:
        allowed = tuple(s.lower() for s in suffixes)
        if out.suffix.lower() not in allowed:
            raise ConfigError(f"{option} {path}: cannot write a {out.suffix or 'suffix-less'} "
                              f"file; use one of {', '.join(allowed)}")
    folder = out.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{option} {path}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: folder {existing} is not writable")
    if out.exists() and not os.access(out, os.W_OK):
        raise ConfigError(f"{option} {path}: the file exists and is not writable")
    return out
