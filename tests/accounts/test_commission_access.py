"""Who acts for the science commission (accounts.access.is_commission): a signed-in, enabled account holding a
commission role in a *verified* organisation. The same roles inside an organisation still pending verification
read nothing of other units' ledgers, reports, voucher claims or private organisation data, through the API or the
pages, and may decide nothing."""

from dataclasses import dataclass

import pytest
from flask_login import AnonymousUserMixin

from instrument_share.accounts import organizations
from instrument_share.accounts.access import is_commission
from instrument_share.accounts.models import Organization, User
from instrument_share.core.errors import PermissionDenied
from instrument_share.db import db
from instrument_share.reporting import generation
from instrument_share.vouchers import access, policies, workflow
from instrument_share.vouchers.models import VoucherClaim, VoucherPolicy

from .._pages import sign_in, submit, text
from ..factories import Operator, english
from ..voucher_workflow_support import VoucherWorld, call, claim_row, service, submitted_claim, voucher_world

VERIFIED = ("auditor1", "officer")
PENDING = ("pending_auditor", "pending_officer")


@dataclass
class Scene:
    world: VoucherWorld  # a provider unit, an SME, a verified commission (two auditors, an officer), a 2026 policy
    record_id: int  # the SME's paid service at the unit
    claim_id: int  # the SME's submitted voucher claim on that service
    pending: Organization  # a commission organisation not yet verified
    people: dict  # name -> User
    headers: dict  # name -> bearer headers

    @property
    def unit_id(self) -> int:
        return self.world.unit.org.id


@pytest.fixture
def scene(factory, frozen_clock) -> Scene:
    world = voucher_world(factory)
    record = service(world)
    claim = submitted_claim(world, [record])
    pending = factory.org("commission", verified=False, name="待核验的科技局")
    people = {"auditor1": world.auditor1, "auditor2": world.auditor2, "officer": world.officer,
              "pending_auditor": factory.user(pending, ("commission_auditor",), totp=True),
              "pending_officer": factory.user(pending, ("commission_officer",), totp=True)}
    headers = dict(world.headers) | {name: factory.bearer(people[name]) for name in PENDING}
    return Scene(world, record.id, claim.id, pending, people, headers)


def api(client, scene: Scene, who: str, method: str, path: str, json=None):
    return call(client, method, path, scene.headers[who], json)


def expect(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    return response.get_json()


def browser(client, factory, user):
    """A fresh signed-in browser showing English (each person signs in once: the TOTP code is single-use)."""
    fresh = client.application.test_client()
    sign_in(fresh, factory, user)
    english(fresh)
    return fresh


def fresh(user: User) -> User:
    db.session.rollback()
    return db.session.get(User, user.id)


# ---------------------------------------------------------------- the rule itself


def test_the_rule_needs_the_role_a_verified_organisation_and_an_enabled_account(factory, scene):
    people = scene.people
    assert all(is_commission(people[name]) for name in VERIFIED)
    assert not any(is_commission(people[name]) for name in PENDING)
    assert not is_commission(None) and not is_commission(AnonymousUserMixin())
    assert not is_commission(factory.user(scene.world.commission, ("system_admin",), totp=True))
    assert not is_commission(scene.world.sme_user)

    with db.transaction():
        db.session.get(User, people["auditor2"].id).is_disabled = True
    assert not is_commission(fresh(people["auditor2"]))

    with db.transaction():
        organizations.verify_organization(actor=Operator(), org=db.session.get(Organization, scene.pending.id))
    assert is_commission(fresh(people["pending_auditor"]))

    with db.transaction():
        organizations.suspend_organization(actor=Operator(), org=db.session.get(Organization, scene.pending.id))
    assert not is_commission(fresh(people["pending_auditor"]))


# ---------------------------------------------------------------- ledger


def test_the_verified_commission_reads_another_units_ledger(client, factory, scene):
    for who in VERIFIED:
        listed = expect(api(client, scene, who, "GET", f"/service-records?unit_id={scene.unit_id}"), 200)
        assert [r["id"] for r in listed["items"]] == [scene.record_id]
        assert expect(api(client, scene, who, "GET", f"/service-records/{scene.record_id}"), 200)["id"] == \
            scene.record_id
        entries = expect(api(client, scene, who, "GET", f"/revenue-entries?service_record_id={scene.record_id}"),
                         200)
        assert sorted(e["kind"] for e in entries["items"]) == ["charge", "payment"]
    page = browser(client, factory, scene.people["auditor1"])
    assert f'data-record="{scene.record_id}"' in text(page.get("/service-records?scope=all"))
    assert page.get(f"/service-records/{scene.record_id}").status_code == 200


def test_a_pending_commission_reads_no_ledger(client, factory, scene):
    for who in PENDING:
        assert expect(api(client, scene, who, "GET", "/service-records"), 200)["total"] == 0
        assert expect(api(client, scene, who, "GET", f"/service-records?unit_id={scene.unit_id}"), 200)["total"] == 0
        expect(api(client, scene, who, "GET", f"/service-records/{scene.record_id}"), 404)
        assert expect(api(client, scene, who, "GET", "/revenue-entries"), 200)["total"] == 0
    page = browser(client, factory, scene.people["pending_auditor"])
    assert "data-record=" not in text(page.get("/service-records?scope=all"))
    assert page.get(f"/service-records/{scene.record_id}").status_code == 404


# ---------------------------------------------------------------- statistics, reports and dashboards


def test_the_verified_commission_reads_unit_statistics_and_reports(client, factory, scene):
    with db.transaction():
        report_id = generation.generate(2026, 4, unit_id=scene.unit_id, formats=("csv",))[0].id
    for who in VERIFIED:
        expect(api(client, scene, who, "GET", f"/statistics?unit_id={scene.unit_id}&year=2026"), 200)
        expect(api(client, scene, who, "GET", f"/statistics?organization_id={scene.world.sme.id}&year=2026"), 200)
    page = browser(client, factory, scene.people["auditor1"])
    assert page.get("/dashboards/").location.endswith("/dashboards/commission")
    assert page.get("/dashboards/commission").status_code == 200
    assert page.get("/reports/").status_code == 200
    assert page.get(f"/reports/{report_id}/download").status_code == 200


def test_a_pending_commission_reads_no_unit_statistics_nor_reports(client, factory, scene):
    with db.transaction():
        unit_report = generation.generate(2026, 4, unit_id=scene.unit_id, formats=("csv",))[0].id
        platform_report = generation.generate(2026, 4, unit_id=None, formats=("csv",))[0].id
    for who in PENDING:
        expect(api(client, scene, who, "GET", f"/statistics?unit_id={scene.unit_id}&year=2026"), 403)
        expect(api(client, scene, who, "GET", f"/statistics?organization_id={scene.world.sme.id}&year=2026"), 403)
    page = browser(client, factory, scene.people["pending_officer"])
    assert not page.get("/dashboards/").location.endswith("/dashboards/commission")
    assert page.get("/dashboards/commission").status_code == 403
    assert page.get("/reports/").status_code == 403
    for report_id in (unit_report, platform_report):
        assert page.get(f"/reports/{report_id}/download").status_code == 404


# ---------------------------------------------------------------- voucher claims


def test_the_verified_commission_reads_and_decides_voucher_claims(client, factory, scene):
    for who in VERIFIED:
        listed = expect(api(client, scene, who, "GET", "/voucher-claims"), 200)
        assert [c["id"] for c in listed["items"]] == [scene.claim_id]
        assert "signals" in expect(api(client, scene, who, "GET", f"/voucher-claims/{scene.claim_id}"), 200)
    assert "signals" not in expect(call(client, "GET", f"/voucher-claims/{scene.claim_id}",
                                        scene.world.h("sme")), 200)
    expect(api(client, scene, "auditor1", "GET", "/voucher-claims?signal=related_provider"), 200)
    auditor = browser(client, factory, scene.people["auditor1"])
    assert auditor.get("/vouchers").location.endswith("/vouchers/queue")
    assert f"/vouchers/claims/{scene.claim_id}" in text(auditor.get("/vouchers/queue"))
    assert auditor.get(f"/vouchers/claims/{scene.claim_id}").status_code == 200
    assert auditor.get("/vouchers/exports").status_code == 200
    officer = browser(client, factory, scene.people["officer"])
    assert officer.get("/vouchers/payouts").status_code == 200
    assert officer.get("/vouchers/policies/new").status_code == 200
    response = submit(auditor, f"/vouchers/claims/{scene.claim_id}/review", page="/vouchers/queue")
    assert response.status_code == 302 and claim_row(scene.claim_id).status == "under_review"


def test_a_pending_commission_neither_reads_nor_decides_voucher_claims(client, factory, scene):
    for who in PENDING:
        assert expect(api(client, scene, who, "GET", "/voucher-claims"), 200)["total"] == 0
        expect(api(client, scene, who, "GET", f"/voucher-claims/{scene.claim_id}"), 404)
        expect(api(client, scene, who, "GET", "/voucher-claims?signal=related_provider"), 403)
    expect(api(client, scene, "pending_auditor", "POST", f"/voucher-claims/{scene.claim_id}/review"), 404)
    policies_before = db.session.query(VoucherPolicy).count()
    expect(api(client, scene, "pending_officer", "POST", "/voucher-policies",
               {"year": 2027, "valid_from": "2027-01-01", "valid_to": "2027-12-31", "budget_fen": 1_000_000}), 403)
    assert db.session.query(VoucherPolicy).count() == policies_before

    auditor = browser(client, factory, scene.people["pending_auditor"])
    assert not (auditor.get("/vouchers").location or "").endswith("/vouchers/queue")
    for path in ("/vouchers/queue", "/vouchers/exports", "/vouchers/exports/claims.csv"):
        assert auditor.get(path).status_code == 403, path
    assert auditor.get(f"/vouchers/claims/{scene.claim_id}").status_code == 404
    # A valid CSRF token, so the refusal comes from the rule, not from the form check.
    for action in ("review", "approve", "reject", "return", "signals"):
        response = submit(auditor, f"/vouchers/claims/{scene.claim_id}/{action}", {"reject-reason": "x"},
                          page="/vouchers/policies")
        assert response.status_code == 403, action
    officer = browser(client, factory, scene.people["pending_officer"])
    for path in ("/vouchers/payouts", "/vouchers/policies/new", "/vouchers/exports/payouts.xlsx"):
        assert officer.get(path).status_code == 403, path
    assert "/vouchers/policies/new" not in text(officer.get("/vouchers/policies"))
    assert submit(officer, f"/vouchers/claims/{scene.claim_id}/pay", page="/vouchers/policies").status_code == 403
    assert claim_row(scene.claim_id).status == "submitted"


def test_the_voucher_services_refuse_a_pending_commission_whatever_the_caller(scene):
    """Pages and API refuse first; the services hold the same rule for any other caller (jobs, the shell)."""
    claim = db.session.get(VoucherClaim, scene.claim_id)
    with pytest.raises(PermissionDenied):
        workflow.review(actor=scene.people["pending_auditor"], claim=claim)
    with pytest.raises(PermissionDenied):
        workflow.pay(actor=scene.people["pending_officer"], claim=claim, paid_on=claim.created_at.date(),
                     payment_ref="REF-1")
    with pytest.raises(PermissionDenied):
        policies.create_policy(actor=scene.people["pending_officer"], data={"year": 2027})
    assert not access.may_read(scene.people["pending_auditor"], claim)
    assert access.may_read(scene.people["auditor1"], claim)
    db.session.rollback()
    assert claim_row(scene.claim_id).status == "submitted"


# ---------------------------------------------------------------- organisations


def test_only_the_verified_commission_reads_private_organisation_data(client, factory, scene):
    newcomer = factory.org("enterprise", verified=False, name="待核验的企业")
    sme = scene.world.sme.id
    for who in VERIFIED:
        assert newcomer.id in {o["id"] for o in expect(api(client, scene, who, "GET", "/organizations?per_page=100"),
                                                       200)["items"]}
        assert "actual_controller" in expect(api(client, scene, who, "GET", f"/organizations/{sme}"), 200)
        expect(api(client, scene, who, "GET", f"/organizations/{newcomer.id}"), 200)
        expect(api(client, scene, who, "GET", f"/organizations/{sme}/relations"), 200)
        expect(api(client, scene, who, "GET", f"/organizations/{sme}/voucher-eligibility?year=2026"), 200)
    for who in PENDING:
        assert newcomer.id not in {o["id"] for o in expect(api(client, scene, who, "GET",
                                                                "/organizations?per_page=100"), 200)["items"]}
        assert "actual_controller" not in expect(api(client, scene, who, "GET", f"/organizations/{sme}"), 200)
        expect(api(client, scene, who, "GET", f"/organizations/{newcomer.id}"), 404)
        expect(api(client, scene, who, "GET", f"/organizations/{sme}/relations"), 403)
        expect(api(client, scene, who, "GET", f"/organizations/{sme}/voucher-eligibility?year=2026"), 403)
    expect(api(client, scene, "pending_officer", "PATCH", f"/organizations/{sme}", {"dishonest": True}), 403)
    assert expect(api(client, scene, "officer", "PATCH", f"/organizations/{sme}", {"dishonest": True}),
                  200)["dishonest"] is True


def test_the_menu_offers_commission_pages_only_to_the_verified_commission(client, factory, scene):
    """A link that would answer 403 is not offered."""
    for who, offered in (("auditor1", True), ("officer", True), ("pending_auditor", False),
                         ("pending_officer", False)):
        page = text(browser(client, factory, scene.people[who]).get("/"))
        assert ('href="/vouchers/queue"' in page) == offered, who
        assert ('href="/reports/"' in page) == offered, who
        assert ('href="/vouchers/payouts"' in page) == (who == "officer"), who
