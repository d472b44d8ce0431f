"""Errors raised for bad input.

Every error a user can fix is a :class:`SiameseTextError`. Its message is one line that names
the file, column, row or option at fault and says what to do. The CLI prints the message and
exits with code 2, without a traceback.
"""

from __future__ import annotations

__all__ = ["SiameseTextError", "ConfigError", "DataError", "ModelError"]


class SiameseTextError(ValueError):
    """Base class of every user-fixable error in siamese_text."""


class ConfigError(SiameseTextError):
    """An option has a value that cannot work (a margin, a batch size, an output path)."""


class DataError(SiameseTextError):
    """A data set, file, column or row is missing or malformed."""


class ModelError(SiameseTextError):
    """A model folder or Hub id cannot be loaded or does not match what it is used with."""
