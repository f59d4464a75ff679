"""Exceptions raised by the client.

Every error the API answers is an RFC 9457 problem (``application/problem+json``);
:class:`APIError` and its subclasses carry its fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional


class MaestroError(Exception):
    """Base class of every error this client raises."""


@dataclass(frozen=True)
class FieldError:
    """One invalid field of a request: a JSON path into the body, a query parameter or a header."""

    field: str
    reason: str


class APIError(MaestroError):
    """The API refused a request; the attributes are the problem's fields.

    Attributes:
        status: the HTTP status code.
        type: the problem type, a URN such as ``urn:maestro:problem:not-found``.
        title: the status in a few words.
        detail: what went wrong with this request, for a person to read.
        errors: for a request that failed validation, each field and why.
        method, url: the request.
        body: the decoded problem (or, for an answer that was not a problem, its text).
    """

    def __init__(self, status: int, method: str, url: str, problem: Optional[Dict[str, Any]] = None,
                 text: str = "") -> None:
        problem = problem or {}
        self.status: int = int(problem.get("status") or status)
        self.type: str = str(problem.get("type") or "about:blank")
        self.title: str = str(problem.get("title") or "")
        self.detail: str = str(problem.get("detail") or text.strip())
        self.errors: List[FieldError] = [
            FieldError(str(e.get("field", "")), str(e.get("reason", ""))) for e in problem.get("errors") or []
        ]
        self.method: str = method
        self.url: str = url
        self.body: Any = problem if problem else text
        message = f"{method} {url}: {self.status} {self.title}".rstrip()
        if self.detail:
            message += f": {self.detail}"
        for e in self.errors:
            message += f"; {e.field}: {e.reason}"
        super().__init__(message)


class BadRequestError(APIError):
    """400: the request is malformed (a bad query parameter, JSON that does not decode)."""


class AuthenticationError(APIError):
    """401: no credentials, or credentials that do not verify (unknown, revoked, expired token)."""


class ForbiddenError(APIError):
    """403: the caller's role (or group) does not allow this."""


class NotFoundError(APIError):
    """404: no such table, run or route."""


class ConflictError(APIError):
    """409: the request conflicts with the current state (e.g. nothing to run, a finished run)."""


class PreconditionFailedError(APIError):
    """412 or 428: the table changed since it was read, or If-Match is missing."""


class ValidationError(APIError):
    """422: the body does not validate; :attr:`errors` names each field and why."""


class ServerError(APIError):
    """5xx: the server failed; its log says why."""


_BY_STATUS = {
    400: BadRequestError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    412: PreconditionFailedError,
    428: PreconditionFailedError,
    422: ValidationError,
}


def error_for(status: int, method: str, url: str, problem: Optional[Dict[str, Any]], text: str = "") -> APIError:
    """Returns the :class:`APIError` subclass instance for an HTTP status."""
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else APIError)
    return cls(status, method, url, problem, text)


class WaitTimeout(MaestroError, TimeoutError):
    """A wait (for a run, or for a table to be fresh) did not end within its timeout."""


class RunFailedError(MaestroError):
    """A run waited for with ``check=True`` ended other than succeeded.

    Attributes:
        run: the finished run.
    """

    def __init__(self, run: Any) -> None:
        self.run = run
        failed = [f"{n.name}: {n.error}" if n.error else n.name for n in run.nodes if n.state == "failed"]
        message = f"run {run.id} {run.state}"
        if failed:
            message += " (" + "; ".join(failed) + ")"
        super().__init__(message)


class ExportError(MaestroError):
    """A table's export cannot be read: it has none, no successful run wrote one, or its format is unsupported."""
