import hashlib

import pytest
from sqlalchemy import select

from instrument_share.core.errors import ValidationFailed
from instrument_share.db import db
from instrument_share.files.models import StoredFile
from instrument_share.files.store import store


def test_a_stored_file_keeps_its_bytes_and_sha256(app):
    data = "检测报告 2026".encode() * 100
    with db.transaction():
        stored = store(data, "../../etc/报告.pdf", purpose="evidence")
    db.session.expunge_all()
    again = db.session.scalar(select(StoredFile).where(StoredFile.id == stored.id))
    assert again.data == data
    assert again.sha256 == hashlib.sha256(data).hexdigest()
    assert again.size == len(data)
    assert again.filename == "报告.pdf"  # path parts are dropped
    assert again.content_type == "application/pdf"


def test_a_file_over_the_limit_is_refused_and_nothing_is_written(app):
    app.config["MAX_UPLOAD_BYTES"] = 1000
    with pytest.raises(ValidationFailed) as refused, db.transaction():
        store(b"x" * 1001, "big.bin", purpose="evidence")
    assert refused.value.code == "file_too_large"
    assert "file" in refused.value.fields
    assert db.session.scalar(select(StoredFile.id)) is None


def test_an_empty_file_is_refused(app):
    with pytest.raises(ValidationFailed), db.transaction():
        store(b"", "empty.txt", purpose="evidence")
