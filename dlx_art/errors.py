"""Errors a person can act on.

Environment problems (a server that is down, a broken file, a name that is taken) are raised as
`DlxError` subclasses whose message is written for the person using the app. Bugs are ordinary
exceptions: they are logged with a traceback and shown as a generic message.
"""

from __future__ import annotations


class DlxError(Exception):
    """A problem with a message a person can act on; `exit_code` is used by the command line."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.user_message = message


class UsageError(DlxError):
    """The command or form was filled in wrongly."""

    exit_code = 2


class NotFound(DlxError):
    """A project or asset that was asked for does not exist."""


class InvalidName(UsageError):
    """A project name that cannot be used (empty, taken, ...)."""


class BadImageFile(DlxError):
    """A file that is not a usable image: broken, truncated, empty, not an image, or a bomb."""


class StorageError(DlxError):
    """The library on disk cannot be read or written (permissions, full disk, path escape)."""


class DiskFull(StorageError):
    """The drive holding the library is full; what was stored before is intact."""


class ReadOnlyStorage(StorageError):
    """The library's drive or folder cannot be written (read-only mount, no permission)."""


class LibraryLocked(DlxError):
    """Another DLX Art Studio already has this library open for writing."""


# --- generation -------------------------------------------------------------------------------


class BackendError(DlxError):
    """A generation backend failed. `fallback_ok` says whether the router may try another."""

    fallback_ok = False


class BackendUnavailable(BackendError):
    """The backend cannot take the job at all: not running, API off, busy. Safe to fall back."""

    exit_code = 3
    fallback_ok = True


class ServerNotRunning(BackendUnavailable):
    pass


class ApiDisabled(BackendUnavailable):
    pass


class ServerBusy(BackendUnavailable):
    pass


class NoBackend(BackendUnavailable):
    """No configured backend could be used; the message lists why for each one."""


class AuthenticationFailed(BackendError):
    """Wrong or missing credentials. Never a reason to fall back."""


class RequestRejected(BackendError):
    """The server refused the request as invalid (HTTP 422 and friends). Never falls back."""

    exit_code = 4


class ServerFailed(BackendError):
    """The server accepted the job but failed while running it (HTTP 500 and friends)."""


class OutOfMemory(ServerFailed):
    pass


class ConnectionDropped(BackendError):
    """The connection closed or timed out while the job was running."""


class BadServerResponse(BackendError):
    """The server answered something that is not what the API promises (garbage, bad image)."""


class QuotaExceeded(BackendError):
    """Rate limit or paid quota reached (Hugging Face 429 / 402)."""


class ModelLoading(BackendUnavailable):
    """The Hugging Face model is still loading and did not become ready in the allowed wait."""


class Cancelled(DlxError):
    """The person cancelled the job."""

    exit_code = 5

    def __init__(self, message: str = "Cancelled.") -> None:
        super().__init__(message)
