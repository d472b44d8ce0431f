"""``siamtext``: one click group, one small module per command.

Heavy libraries (torch, transformers) are imported inside the commands, so ``siamtext --help``
is instant. Every user-fixable error (a :class:`siamese_text.errors.SiameseTextError` or a click
usage error) is printed as ONE line, ``Error: ...``, with exit code 2 and no traceback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

import click

from siamese_text import __version__
from siamese_text.errors import SiameseTextError


class SiamtextGroup(click.Group):
    """A click group whose errors are one line on stderr and exit code 2."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        try:
            with _signals_interrupt():
                return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.Abort:  # click's form of KeyboardInterrupt: Ctrl-C, or SIGTERM / SIGHUP (below)
            click.echo("Interrupted; no output folder or file was replaced or left half-written.", err=True)
            sys.exit(130)
        except click.UsageError as exc:
            message = exc.format_message().replace("\n", " ")
            click.echo(f"Error: {message} (see '{exc.ctx.command_path if exc.ctx else 'siamtext'} --help')", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            click.echo(f"Error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except SiameseTextError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)
        except Exception:
            if _INTERRUPTED:  # a signal arrived, and a process it stopped (another rank) broke this one's work
                click.echo("Interrupted; no output folder or file was replaced or left half-written.", err=True)
                sys.exit(130)
            raise


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP (kill, timeout, a scheduler, a closed terminal) stop a command as Ctrl-C does.

    Python's default for them ends the process at once, skipping the clean-up that removes a
    half-written output; raised as KeyboardInterrupt they unwind through it like Ctrl-C.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = [sig for sig in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if sig is not None]
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in wanted}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_INTERRUPTED = False


def _raise_interrupt(signum: int, frame: Any) -> None:
    global _INTERRUPTED
    _INTERRUPTED = True
    if _inside_ignored_callback(frame):
        # Raised here, Python prints "Exception ignored in ..." and drops it, and the run goes on (a
        # garbage-collected matplotlib figure made this happen): send the signal again a moment later.
        threading.Timer(0.05, os.kill, (os.getpid(), signum)).start()
        return
    raise KeyboardInterrupt


def _inside_ignored_callback(frame: Any) -> bool:
    """Whether ``frame`` runs inside a weakref callback or a ``__del__``, whose exceptions Python ignores."""
    while frame is not None:
        code = frame.f_code
        if code.co_name == "__del__" or (code.co_name == "remove" and code.co_filename.endswith("weakref.py")):
            return True
        frame = frame.f_back
    return False


@click.group(cls=SiamtextGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="siamtext")
def cli() -> None:
    """Siamese text encoders: train, evaluate, calibrate, search and publish."""


def _register() -> None:
    from siamese_text_cli import datasets, pairs, train

    cli.add_command(train.train)
    cli.add_command(datasets.datasets)
    cli.add_command(pairs.pairs)
    from siamese_text_cli import calibrate, evaluate, score, verify

    for command in (evaluate.evaluate, calibrate.calibrate, verify.verify, score.score):
        cli.add_command(command)
    from siamese_text_cli import encode, export, push

    for command in (encode.encode, export.export, push.push):
        cli.add_command(command)
    from siamese_text_cli import index, search

    cli.add_command(index.index)
    cli.add_command(search.search)
    from siamese_text_cli import serve

    cli.add_command(serve.serve)


_register()
