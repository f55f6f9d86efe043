"""Helpers for the tests that drive the catalogue pages with the test client."""

import re

from flask import g

from instrument_share.accounts.roles import Role
from instrument_share.db import db

from .client import csrf_from, login, sign_in  # noqa: F401  (re-exported to the page tests)

# A complete instrument form as a provider fills it in (money in yuan, dates as <input type=date> sends them).
INSTRUMENT_FORM = {
    "name_zh": "场发射扫描电子显微镜", "name_en": "Field emission SEM", "model": "SU8010",
    "manufacturer": "日立", "country": "日本", "serial_no": "SN-0001", "purchase_date": "2019-06-30",
    "original_value_fen": "1234567.89", "category_code": "0101", "location": "江宁区某路1号",
    "district": "江宁区", "technical_indicators": "分辨率 1.0 nm", "main_functions": "形貌观察",
    "service_content": "样品表面形貌分析", "service_modes": ["machine_time", "sample_testing"],
    "fee_per_hour_fen": "300", "fee_per_sample_fen": "150.5", "fee_notes": "校内外同价", "contact": "025-12345678",
}


def reset_each_request(app) -> None:
    """Give every request a fresh `g` and a fresh view of the database, as in production (see test_account_flows)."""

    def reset():
        vars(g).clear()
        db.session.rollback()

    app.before_request_funcs.setdefault(None, []).insert(0, reset)


def submit(client, path: str, data: dict | None = None, *, page: str | None = None):
    """POST to `path` with the CSRF token of the page the form is on (default: the path itself)."""
    token = csrf_from(client.get(page or path).get_data(as_text=True))
    return client.post(path, data=(data or {}) | {"csrf_token": token})


def text(response) -> str:
    return response.get_data(as_text=True)


def created_id(response) -> int:
    assert response.status_code == 302, response.status_code
    return int(re.search(r"/(\d+)(?:[/?#]|$)", response.location).group(1))


def field_errors(html: str) -> list[str]:
    return re.findall(r'<span class="field-error"[^>]*>([^<]*)</span>', html)


def provider(factory, kind: str = "university", **org_kwargs):
    org = factory.org(kind, **org_kwargs)
    return org, factory.user(org, roles=(Role.provider_operator,))


def defence_setup(factory):
    """An authority, a defence unit under it, the unit's operator and reviewer, and the authority's approver."""
    authority = factory.org("authority")
    unit = factory.org("defence_unit", superior=authority)
    return {
        "authority": authority, "unit": unit,
        "operator": factory.user(unit, roles=(Role.provider_operator,)),
        "reviewer": factory.user(unit, roles=(Role.defence_approver,), totp=True),
        "approver": factory.user(authority, roles=(Role.defence_approver,), totp=True),
    }
