"""Atomic model folders: build beside the target, then rename; never overwrite unless asked.

Neither transformers nor sentence-transformers write a folder atomically (a crash halfway through
``save_pretrained`` leaves a folder that looks like a model but does not load), so this is ours.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from siamese_text.errors import ConfigError

__all__ = ["check_output_dir", "atomic_dir"]


def check_output_dir(path: str | os.PathLike, *, overwrite: bool, flag: str = "--output") -> Path:
    """Refuse an output path that is a file, or a non-empty folder when ``overwrite`` is false."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path} is a file, not a folder; choose another {flag} path")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise ConfigError(
            f"{flag} {path} already exists and is not empty; pass --overwrite to replace it or choose another {flag}"
        )
    if not path.parent.exists():
        raise ConfigError(f"the parent folder of {flag} {path} does not exist; create {path.parent} first")
    return path


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, overwrite: bool, flag: str = "--output") -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` in one rename.

    On any error the temporary folder is removed and ``path`` is left exactly as it was.
    """
    path = check_output_dir(path, overwrite=overwrite, flag=flag).absolute()
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if path.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
        os.replace(path, old / path.name)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
