"""Atomic model folders and files: build beside the target, then rename; never overwrite unless asked.

Neither transformers nor sentence-transformers write a folder atomically (a crash halfway through
``save_pretrained`` leaves a folder that looks like a model but does not load), so this is ours.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from siamese_text.errors import ConfigError

__all__ = ["check_output_dir", "atomic_dir", "resumable_dir", "partial_dir", "check_output_file", "atomic_file",
           "output_lock"]


def check_output_dir(path: str | os.PathLike, *, overwrite: bool, flag: str = "--output",
                     overwrite_hint: str = "--overwrite", keep: Sequence[str | os.PathLike] = ()) -> Path:
    """Refuse an output path that is a file, or a non-empty folder when ``overwrite`` is false.

    Also refused: the current folder or one holding it, a folder that is or holds one of ``keep``
    (inputs the result still needs, such as an index's model), and a place that cannot be written.
    ``flag`` and ``overwrite_hint`` name the path and the way to replace it in messages (CLI wording by default).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path} is a file, not a folder; choose another {flag} path")
    target, real = _target(path), path.resolve()
    if real == Path.cwd().resolve() or real in Path.cwd().resolve().parents:
        raise ConfigError(f"{flag} {path} is the folder you are in (or holds it), which would be replaced; choose a new {flag} folder")
    for needed in (k for k in keep if Path(k).exists()):  # a Hub id is not a path here
        held = Path(needed).resolve()
        if held == real or real in held.parents:
            raise ConfigError(f"{flag} {path} holds {needed}, which the result still needs; choose another {flag} folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise ConfigError(
            f"{flag} {path} already exists and is not empty; pass {overwrite_hint} to replace it or choose another {flag}"
        )
    _check_parents(target, flag=flag, shown=path)
    return path


def _target(path: Path) -> Path:
    """Where writing ``path`` lands: a symlink's target (the link itself is kept), else the absolute path."""
    return path.resolve() if path.is_symlink() else Path(os.path.abspath(path))


def _check_parents(path: Path, *, flag: str, shown: Path | None = None) -> None:
    """Missing parent folders are created when writing (``mkdir -p``); one that is a file, or that cannot be written in, is refused now."""
    shown = path if shown is None else shown
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{flag} {shown}: {parent} is a file, not a folder; choose another {flag} path")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ConfigError(f"{flag} {shown}: cannot write in {parent} (permission denied); choose another {flag}")
            return


@contextlib.contextmanager
def _make_parents(path: Path) -> Iterator[None]:
    """Create ``path``'s missing parent folders; if the body fails, remove the ones made here (if still empty)."""
    made = [parent for parent in path.parents if not parent.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {path.parent} ({exc.strerror}); choose another output path") from exc
    try:
        yield
    except BaseException:
        for folder in made:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, overwrite: bool, flag: str = "--output",
               overwrite_hint: str = "--overwrite", keep: Sequence[str | os.PathLike] = ()) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` in one swap.

    On any error (and on Ctrl-C or SIGTERM, which the CLI turns into KeyboardInterrupt) the temporary
    folder is removed and ``path`` is left exactly as it was. While the body runs, ``path`` is locked
    (:func:`output_lock`), so a second run writing it fails at once. A folder that appeared at
    ``path`` during the run is not replaced without ``overwrite``: the result is kept beside it.
    A symlink to a folder is written through: its target is replaced, the link stays.
    """
    shown = Path(path)
    path = _target(check_output_dir(path, overwrite=overwrite, flag=flag, overwrite_hint=overwrite_hint, keep=keep))
    with _make_parents(path), output_lock(path, flag=flag, shown=shown):
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
        except OSError as exc:
            raise ConfigError(f"{flag} {shown}: cannot write in {path.parent} ({exc.strerror}); choose another {flag}") from exc
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the folder gets the mode a plain mkdir would give it
        try:
            yield tmp
            _finish(tmp, path, overwrite=overwrite, flag=flag, shown=shown)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _finish(tmp: Path, path: Path, *, overwrite: bool, flag: str, shown: Path) -> None:
    """Put the finished ``tmp`` at ``path``; a folder that appeared there meanwhile is kept unless ``overwrite``."""
    if not overwrite and path.is_dir() and any(path.iterdir()):
        kept = _free_name(path)
        os.replace(tmp, kept)
        raise ConfigError(f"{flag} {shown} appeared while this ran and was left as it is; the result is in {kept}")
    _swap(tmp, path)


def partial_dir(path: str | os.PathLike) -> Path:
    """Where :func:`resumable_dir` keeps the work of an interrupted run: ``.NAME.partial`` beside ``path``."""
    target = _target(Path(path))
    return target.parent / f".{target.name}.partial"


@contextlib.contextmanager
def resumable_dir(path: str | os.PathLike, *, overwrite: bool, resume: bool, flag: str = "--output",
                  overwrite_hint: str = "--overwrite", keep: Sequence[str | os.PathLike] = ()) -> Iterator[tuple[Path, bool]]:
    """Like :func:`atomic_dir`, but an interrupted run (Ctrl-C, SIGTERM) keeps its work for ``resume``.

    Yields ``(folder, resumed)``: the hidden ``.NAME.partial`` folder beside ``path`` and whether it
    holds an interrupted run's work (only with ``resume``; without it, old work is cleared). On
    success it replaces ``path`` in one swap; on an error it is removed; on an interruption it stays,
    so the same command with ``--resume`` goes on from there. ``path`` itself is never half-written.
    """
    shown = Path(path)
    path = _target(check_output_dir(path, overwrite=overwrite, flag=flag, overwrite_hint=overwrite_hint, keep=keep))
    with _make_parents(path), output_lock(path, flag=flag, shown=shown):
        tmp = partial_dir(path)
        resumed = resume and tmp.is_dir()
        if tmp.exists() and not resumed:
            shutil.rmtree(tmp)
        try:
            tmp.mkdir(mode=0o777, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{flag} {shown}: cannot write in {path.parent} ({exc.strerror}); choose another {flag}") from exc
        try:
            yield tmp, resumed
            _finish(tmp, path, overwrite=overwrite, flag=flag, shown=shown)
        except KeyboardInterrupt:
            raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _swap(new: Path, path: Path) -> None:
    """Put ``new`` at ``path``, the old folder (if any) removed after; never a moment without one once done.

    Ctrl-C and SIGTERM wait until the two renames are done (they are blocked meanwhile), so a
    signal cannot land between them and leave neither folder at ``path``.
    """
    blocked = {getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, blocked) if hasattr(signal, "pthread_sigmask") else None
    old = None
    try:
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, old / path.name)
        try:
            os.replace(new, path)
        except OSError:
            if old is not None:
                os.replace(old / path.name, path)
                old.rmdir()
            raise
    finally:
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _free_name(path: Path) -> Path:
    for n in range(1, 1000):
        candidate = path.with_name(f"{path.name}.new" if n == 1 else f"{path.name}.new-{n}")
        if not candidate.exists():
            return candidate
    raise ConfigError(f"{path}: no free name to keep the result beside it; clear the {path.name}.new* folders")


_HELD: set[str] = set()  # lock files this process holds (a lock is re-entered freely by its holder)


@contextlib.contextmanager
def output_lock(path: str | os.PathLike, *, flag: str = "--output", shown: str | os.PathLike | None = None) -> Iterator[None]:
    """Hold ``.NAME.lock`` beside ``path`` while writing it; a second writer gets a one-line error at once.

    The lock file is removed on release. A writer that opened it just before is told by the inode
    check below and takes a fresh one, so two runs never both hold a lock on ``path``.
    """
    import fcntl

    path = _target(Path(path))
    lock = path.parent / f".{path.name}.lock"
    if str(lock) in _HELD:
        yield
        return
    while True:
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(
                f"{flag} {shown or path} is being written by another run; wait for it to finish or choose another {flag}"
            ) from None
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder before us removed it after we opened it: lock the current file instead
    _HELD.add(str(lock))
    try:
        yield
    finally:
        _HELD.discard(str(lock))
        with contextlib.suppress(OSError):
            lock.unlink()
        os.close(fd)


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
