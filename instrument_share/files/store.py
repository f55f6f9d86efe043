"""Keep a file's bytes with its SHA-256, refusing what is over the size limit."""

import hashlib
import mimetypes
from pathlib import PurePath

from flask import current_app
from flask_babel import gettext as _

from ..core.errors import ValidationFailed
from ..db import db
from .models import StoredFile


def store(data: bytes, filename: str, *, purpose: str, content_type: str | None = None,
          organization_id: int | None = None, created_by_id: int | None = None, field: str = "file") -> StoredFile:
    """Add a file in the caller's transaction (never commits)."""
    limit = current_app.config["MAX_UPLOAD_BYTES"]
    if not data:
        raise ValidationFailed(_("The file is empty."), fields={field: _("empty file")})
    if len(data) > limit:
        raise ValidationFailed(_("The file is larger than %(mb).1f MB.", mb=limit / 1024 / 1024),
                               code="file_too_large", fields={field: _("file too large")})
    safe_name = PurePath(filename.replace("\\", "/")).name[:255] or "file"
    guessed = content_type or mimetypes.guess_type(safe_name)[0] or "application/octet-stream"
    stored = StoredFile(filename=safe_name, content_type=guessed, size=len(data),
                        sha256=hashlib.sha256(data).hexdigest(), data=data, purpose=purpose,
                        organization_id=organization_id, created_by_id=created_by_id)
    db.session.add(stored)
    db.session.flush()
    return stored
