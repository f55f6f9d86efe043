"""The instrument classification (class and sub-class), kept by the system administrator.

Each change writes an audit entry; like every service, nothing here commits (the caller's transaction does).
"""

import re

from flask_babel import gettext as _
from sqlalchemy import select

from ..accounts.roles import Role
from ..audit import chain as audit
from ..core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from ..db import db
from .models import InstrumentCategory

SUBCLASS_CODE = re.compile(r"^\d{4}$")


def _require_admin(actor) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.has_role(Role.system_admin):
        raise PermissionDenied(_("Only the system administrator edits the instrument classification."))


def all_categories() -> list[InstrumentCategory]:
    return list(db.session.scalars(select(InstrumentCategory).order_by(InstrumentCategory.code)))


def get(code: str) -> InstrumentCategory:
    category = db.session.get(InstrumentCategory, code) if isinstance(code, str) and len(code) <= 8 else None
    if category is None:
        raise NotFound(_("No such category."))
    return category


def _names(name_zh, name_en) -> tuple[str, str]:
    zh, en = (name_zh or "").strip(), (name_en or "").strip()
    problems = {}
    for field, value in (("name_zh", zh), ("name_en", en)):
        if not value:
            problems[field] = _("required")
        elif len(value) > 100:
            problems[field] = _("at most %(n)d characters", n=100)
    if problems:
        raise ValidationFailed(_("Give the category's Chinese and English names."), fields=problems)
    return zh, en


def rename(*, actor, category: InstrumentCategory, name_zh: str, name_en: str) -> InstrumentCategory:
    _require_admin(actor)
    zh, en = _names(name_zh, name_en)
    before = {"name_zh": category.name_zh, "name_en": category.name_en}
    if before == {"name_zh": zh, "name_en": en}:
        return category
    category.name_zh, category.name_en = zh, en
    db.session.flush()
    audit.append("category.renamed", actor=actor, object_type="instrument_category", object_id=category.code,
                 details={"before": before, "after": {"name_zh": zh, "name_en": en}})
    return category


def set_active(*, actor, category: InstrumentCategory, active: bool) -> InstrumentCategory:
    """An inactive category is no longer offered for new listings; listings that use it keep it."""
    _require_admin(actor)
    if category.is_active == active:
        return category
    category.is_active = active
    db.session.flush()
    audit.append("category.activated" if active else "category.deactivated", actor=actor,
                 object_type="instrument_category", object_id=category.code, details={})
    return category


def add_subclass(*, actor, parent_code: str, code: str, name_zh: str, name_en: str) -> InstrumentCategory:
    _require_admin(actor)
    parent = db.session.get(InstrumentCategory, parent_code) if isinstance(parent_code, str) else None
    if parent is None or parent.parent_code is not None:
        raise ValidationFailed(_("Choose a class of the classification."), fields={"parent_code": _("not a class")})
    code = (code or "").strip()
    if not SUBCLASS_CODE.match(code) or not code.startswith(parent.code):
        raise ValidationFailed(_("A sub-class code is 4 digits starting with its class code."),
                               fields={"code": _("4 digits starting with %(c)s", c=parent.code)})
    zh, en = _names(name_zh, name_en)
    if db.session.get(InstrumentCategory, code) is not None:
        raise Conflict(_("This code is already used."), code="code_taken", fields={"code": _("already used")})
    category = InstrumentCategory(code=code, parent_code=parent.code, name_zh=zh, name_en=en, is_active=True)
    db.session.add(category)
    db.session.flush()
    audit.append("category.added", actor=actor, object_type="instrument_category", object_id=code,
                 details={"parent_code": parent.code, "name_zh": zh, "name_en": en})
    return category
