"""Domain errors raised by services and mapped to HTTP by the web layer."""


class DomainError(Exception):
    """A refusal the user can act on; `code` is the API error code."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, fields: dict[str, str] | None = None, **extra):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}
        self.extra = extra


class ValidationFailed(DomainError):
    status = 422
    code = "validation_failed"


class NotAuthenticated(DomainError):
    status = 401
    code = "not_authenticated"


class PermissionDenied(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class InvalidState(Conflict):
    code = "invalid_state"
