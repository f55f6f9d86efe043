"""Each feature decides access in its own access.py; the decisions moved there out of pages keep their answers.

Also the import rules the layout relies on: no feature package imports the pages or the API, and no module imports
another module's private (_name) names."""

import ast
from pathlib import Path

import pytest

from instrument_share.accounts import access as accounts_access
from instrument_share.catalogue.search_params import search_params_from_args
from instrument_share.core.errors import NotFound, ValidationFailed
from instrument_share.db import db
from instrument_share.ledger import access as ledger_access
from instrument_share.reporting import access as reporting_access

PACKAGE = Path(__file__).resolve().parents[2] / "instrument_share"
FEATURES = ("accounts", "audit", "bookings", "catalogue", "files", "ledger", "mail", "reporting", "scheduling",
            "vouchers", "core")


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            yield node.level, node.module or "", [alias.name for alias in node.names]


def test_no_feature_package_imports_pages_or_the_api():
    found = []
    for feature in FEATURES:
        for path in (PACKAGE / feature).rglob("*.py"):
            for level, module, _names in _imports(path):
                first = module.split(".")[0]
                if (level >= 2 and first in ("web", "api")) or (level == 0 and module.startswith(
                        ("instrument_share.web", "instrument_share.api"))):
                    found.append(f"{path.relative_to(PACKAGE)}: {module}")
    assert found == []


def test_no_module_imports_another_modules_private_names():
    found = [f"{path.relative_to(PACKAGE)}: {module} {name}" for path in PACKAGE.rglob("*.py")
             for _level, module, names in _imports(path) for name in names
             if name.startswith("_") and not name.startswith("__") and name != "_"]
    assert found == []


def test_dashboard_for_picks_each_persons_own(app, factory):
    unit = factory.org("university")
    operator = factory.user(unit, roles=("provider_operator",))
    sme = factory.user(factory.org("enterprise"), roles=("sme_user",))
    admin = factory.user(factory.org("authority"), roles=("system_admin",))
    officer = factory.user(factory.org("authority"), roles=("commission_officer",))
    got = {name: reporting_access.dashboard_for(db.session.merge(user))
           for name, user in (("operator", operator), ("sme", sme), ("admin", admin), ("officer", officer))}
    assert got == {"operator": "unit", "sme": "organization", "admin": None, "officer": "commission"}
    assert reporting_access.dashboard_for(None) is None
    assert reporting_access.may_read_organization_dashboard(db.session.merge(sme))
    assert not reporting_access.may_read_organization_dashboard(db.session.merge(admin))


def test_loaders_answer_not_found_for_what_the_viewer_may_not_know(app, factory):
    pending = factory.org("enterprise", verified=False)
    outsider = factory.user(factory.org("enterprise"))
    member = factory.user(pending)
    with pytest.raises(NotFound):
        accounts_access.get_visible_org(db.session.merge(outsider), pending.id)
    assert accounts_access.get_visible_org(db.session.merge(member), pending.id).id == pending.id
    with pytest.raises(NotFound):
        accounts_access.get_colleague(db.session.merge(outsider), member.id)
    with pytest.raises(NotFound):
        ledger_access.get_readable_record(db.session.merge(outsider), 999_999)
    with pytest.raises(NotFound):
        ledger_access.get_readable_request(db.session.merge(outsider), 999_999)


def test_record_scopes(app, factory):
    operator = factory.user(factory.org("university"), roles=("provider_operator",))
    sme = factory.user(factory.org("enterprise"), roles=("sme_user",))
    auditor = factory.user(factory.org("authority"), roles=("commission_auditor",))
    assert ledger_access.record_scopes(db.session.merge(operator)) == ["unit", "mine"]
    assert ledger_access.record_scopes(db.session.merge(sme)) == ["mine"]
    assert ledger_access.record_scopes(db.session.merge(auditor)) == ["all", "mine"]


def test_search_params_parse_a_plain_mapping(app):
    with app.test_request_context():
        params = search_params_from_args({"q": "质谱", "sort": "fee", "page": "2", "large": "yes"})
        assert (params.q, params.sort, params.page, params.large, params.per_page) == ("质谱", "fee", 2, True, 20)
        for bad in ({"sort": "price"}, {"page": "0"}, {"fee_max_fen": str(2**31)}, {"defence": "maybe"},
                    {"service_mode": "teleport"}):
            with pytest.raises(ValidationFailed):
                search_params_from_args(bad)
