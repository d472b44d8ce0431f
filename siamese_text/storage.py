"""Atomic model folders and files: build beside the target, then rename; never overwrite unless asked.

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

__all__ = ["check_output_dir", "atomic_dir", "check_output_file", "atomic_file"]


def check_output_dir(path: str | os.PathLike, *, overwrite: bool, flag: str = "--output",
                     overwrite_hint: str = "--overwrite") -> Path:
    """Refuse an output path that is a file, or a non-empty folder when ``overwrite`` is false.

    ``flag`` and ``overwrite_hint`` name the path and the way to replace it in messages (CLI wording by default).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path} is a file, not a folder; choose another {flag} path")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise ConfigError(
            f"{flag} {path} already exists and is not empty; pass {overwrite_hint} to replace it or choose another {flag}"
        )
    _check_parents(path, flag=flag)
    return path


def _check_parents(path: Path, *, flag: str) -> None:
    """Missing parent folders are created when writing (``mkdir -p``); one that is a file is refused now."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{flag} {path}: {parent} is a file, not a folder; choose another {flag} path")
            return


@contextlib.contextmanager
def _make_parents(path: Path) -> Iterator[None]:
    """Create ``path``'s missing parent folders; if the body fails, remove the ones made here (if still empty)."""
    made = [parent for parent in path.parents if not parent.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for folder in made:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, overwrite: bool, flag: str = "--output",
               overwrite_hint: str = "--overwrite") -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` in one rename.

    On any error the temporary folder is removed and ``path`` is left exactly as it was.
    """
    path = check_output_dir(path, overwrite=overwrite, flag=flag, overwrite_hint=overwrite_hint).absolute()
    with _make_parents(path):
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the folder gets the mode a plain mkdir would give it
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


def check_output_file(path: str | os.PathLike, *, suffixes: tuple[str, ...], overwrite: bool, flag: str = "--output") -> Path:
    """Refuse an output file with another suffix, a folder, an existing file (unless ``overwrite``), a file as a parent."""
    path = Path(path)
    names = " or ".join(suffixes)
    if path.suffix.lower() not in suffixes:
        raise ConfigError(f"{flag} {path}: give a file name ending in {names}")
    if path.is_dir():
        raise ConfigError(f"{flag} {path} is a folder; give a file name ending in {names}")
    if path.exists() and not overwrite:
        raise ConfigError(f"{flag} {path} already exists; pass --overwrite to replace it or choose another {flag}")
    _check_parents(path, flag=flag)
    return path


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path beside ``path`` (same suffix); on success it replaces ``path`` in one rename.

    On any error the temporary file is removed and ``path`` is left as it was, so a crash never
    leaves half a file. Whether ``path`` may be replaced is the caller's check.
    """
    path = Path(path).absolute()
    with _make_parents(path):
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        tmp.chmod(0o666 & ~_umask())  # mkstemp makes it private; the file gets the mode a plain open() would give it
        try:
            yield tmp
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def _umask() -> int:
    """The process umask (reading it means setting it: set it back at once)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask
