"""Small helpers shared by the HTML views."""

from functools import wraps
from urllib.parse import urlsplit

from flask import abort
from flask_login import current_user, login_required

from ..accounts.roles import Role


def role_required(*roles: Role):
    """Signed in and holding one of the roles, or 403."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def safe_next(target: str | None, default: str) -> str:
    """Only a local path: one leading slash, no scheme or host, no backslash (CVE-2021-32618)."""
    if not target or "\\" in target or not target.startswith("/") or target.startswith("//"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(ch) < 32 for ch in target):
        return default
    return target

