"""Pure answer checking, safe model intake and evaluation for Stride.

Nothing in this package imports Django: arrays, paths and plain dicts in, plain result
objects out. Localised texts are dicts ``{"fr": ..., "en": ...}`` (see ``grader.result``).
"""
