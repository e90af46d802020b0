"""Typed errors raised by the engine; the faces decide how to show them.

Every message is one line a person can act on, so a face can print
`str(error)` as it is.
"""

from __future__ import annotations


class ClipgitError(Exception):
    """Base of every error the engine raises on purpose."""


class ConfigError(ClipgitError):
    """A setting (flag, env var, config file) has a value we cannot use."""


class ModelUnavailable(ClipgitError):
    """A model is neither cached nor reachable, or its files cannot be loaded."""


class ImageUnreadable(ClipgitError):
    """One file cannot be used as an image; the reason is the message."""


class QueryError(ClipgitError):
    """A search query cannot be parsed or has no usable term."""


class NotInLibrary(ClipgitError):
    """A path given as a library member is not in the library."""


class Cancelled(ClipgitError):
    """Work stopped because the caller set its cancel event."""


class JobInterrupted(ClipgitError):
    """A long job's stream ended without its final report (the service was killed, or ran out of memory):
    what it committed is kept, and the job is not done."""
