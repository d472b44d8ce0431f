"""The ``siamtext`` command line: a thin click app over :mod:`siamese_text`."""
