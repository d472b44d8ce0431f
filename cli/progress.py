"""The progress bars of datasets, transformers and the Hub, turned off for a block and restored after it."""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def library_progress_bars(*, on: bool) -> Iterator[None]:
    """With ``on=False``, the libraries' own bars (datasets' split generation, transformers' weight
    loading and shard writing, Hub downloads, sentence-transformers' widget examples) are off for the
    block, and back as they were after it: ``train --quiet`` writes log files, ``search`` prints hits
    that the bars would bury."""
    if on:
        yield
        return
    import datasets
    from transformers.utils import logging as hf_logging

    were = datasets.is_progress_bar_enabled(), hf_logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()  # also huggingface_hub's
    try:
        with _widget_examples_bar_off():
            yield
    finally:
        if were[0]:
            datasets.enable_progress_bars()
        if were[1]:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def _widget_examples_bar_off() -> Iterator[None]:
    """sentence-transformers' "Computing widget examples" bar (drawn when a trainer is made) is a plain
    tqdm that no switch turns off: its model card module gets a disabled tqdm for the block."""
    from sentence_transformers import SentenceTransformerModelCardData

    module = sys.modules[SentenceTransformerModelCardData.set_widget_examples.__module__]
    bar = getattr(module, "tqdm", None)
    if bar is None:  # a version that draws no such bar
        yield
        return
    module.tqdm = functools.partial(bar, disable=True)
    try:
        yield
    finally:
        module.tqdm = bar
