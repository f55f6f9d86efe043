"""How the authorisation matrix calls each route: URL parameters other than object ids, query strings, and a valid
body, so that a principal who passes the checks succeeds (and a missing check would show as a success).

`CALLS` is keyed by endpoint, or (endpoint, variant) for the variants of tests/authz_matrix.py. A value may be a
callable taking the cell (`Cell`: the object's ids, the world, the principal, the side); page forms get the CSRF
token added by the runner. Routes not listed are called without a body.
"""

import io
from dataclasses import dataclass, field
from typing import Any

from instrument_share.catalogue.fields import RESTRICTABLE
from instrument_share.vouchers.forms import VOUCHER_MODES

from ._pages import INSTRUMENT_FORM
from .authz_matrix import ADMINS, AUTHORITY_APPROVER, COMMISSION, OTHER_AUTHORITY_APPROVER
from .catalogue_support import csv_bytes, row, table, values
from .factories import PASSWORD

PASSPHRASE = "a long enough passphrase"
LATER_SLOT = {"start": "2026-12-11T10:00:00+08:00", "end": "2026-12-11T11:00:00+08:00"}  # Friday: bookable
SERVICE_TIMES = {"actual_start": "2026-12-02T14:00:00+08:00", "actual_end": "2026-12-02T15:00:00+08:00"}
REASON = {"reason": "测试理由"}


@dataclass
class Cell:
    refs: dict  # the object's ids (all MISSING for the probe of a missing object)
    world: Any
    principal: str
    side: str

    def org(self, name: str = "enterprise"):
        return getattr(self.world.sides[self.side], name)


@dataclass
class Call:
    form: dict | Any = None  # page form fields
    json: dict | Any = None  # API body
    query: dict | Any = None
    params: dict = field(default_factory=dict)  # URL parameters that are not object ids
    files: dict | None = None  # {field: (bytes, filename)}: sent as multipart (pages: with `form`)


def _reason(prefix: str) -> Call:
    return Call(form={f"{prefix}-reason": "测试理由"})


def _business_role(cell: Cell) -> str:
    """A role the principal's own organisation may have: the forms of the organisation page offer only those, so
    any other choice would be refused by the form before the rule is asked."""
    if cell.principal in (AUTHORITY_APPROVER, OTHER_AUTHORITY_APPROVER):
        return "defence_approver"
    if cell.principal in COMMISSION | ADMINS:
        return "commission_auditor"
    return "sme_user"


def _totp(cell: Cell) -> dict:
    user = cell.world.users.get(cell.principal)
    return {"totp": cell.world.extra["totp"](user)} if user and user.totp_secret else {}


PDF = {"file": (b"%PDF-1.4 payment proof", "proof.pdf")}
POLICY_FORM = {"year": "2027", "valid_from": "2027-01-01", "valid_to": "2027-12-31", "budget": "5000000",
               "rate_bp": "5000", "enterprise_annual_cap": "300000", "min_claim": "0",
               "eligible_modes": list(VOUCHER_MODES), "provider_region_prefixes": "3201",
               "claimant_region_prefixes": "3201", "sme_max_staff": "500", "sme_max_revenue": "200000000",
               "sme_max_assets": "200000000"}
RULES_FORM = {"rules-open_0_0_start": "09:00", "rules-open_0_0_end": "17:00", "rules-min_minutes": "60",
              "rules-max_minutes": "240", "rules-granularity_minutes": "60", "rules-min_notice_hours": "24",
              "rules-max_horizon_days": "90", "rules-buffer_minutes": "0", "rules-cancel_notice_hours": "24"}

CALLS: dict = {
    # public pages and links
    "main.set_language": Call(form={"lang": "en"}),
    "static": Call(params={"filename": "app.css"}),
    "auth.login": Call(form=lambda c: {"username": c.world.sides["own"].people["colleague"].username,
                                       "password": PASSWORD}),
    "auth.totp": Call(form={"code": "123456"}), "auth.totp_enrol": Call(form={"code": "123456"}),
    "auth.register": Call(form=lambda c: {"name": "自行注册的新企业", "uscc": c.world.extra["fresh_uscc"],
                                          "username": "newcomer", "email": "newcomer@example.cn",
                                          "password": PASSPHRASE, "confirm": PASSPHRASE}),
    "auth.forgot_password": Call(form={"email": "nobody@example.cn"}),
    "auth.confirm_email": Call(params=lambda c: {"token": c.world.extra["confirm_token"]}),
    "auth.reset_password": Call(params=lambda c: {"token": c.world.extra["reset_token"]},
                                form={"password": PASSPHRASE, "confirm": PASSPHRASE}),
    "auth.accept_invitation": Call(params=lambda c: {"token": c.world.extra["invitation_token"]},
                                   form={"username": "invitee", "password": PASSPHRASE, "confirm": PASSPHRASE}),
    "calendars.user_feed": Call(params=lambda c: {"token": c.world.extra["calendar_token"]}),
    "catalogue.export": Call(params={"fmt": "csv"}),
    # the person's own pages and the organisation's page
    "profile.change_password": Call(form={"pw-current_password": PASSWORD, "pw-new_password": PASSPHRASE + " 2",
                                          "pw-confirm": PASSPHRASE + " 2"}),
    "profile.enrol_totp": Call(form={"code": "123456"}),
    "profile.create_token": Call(form={"tok-name": "脚本"}),
    "profile.disable_totp": Call(form={"off-password": PASSWORD}),
    "org.invite": Call(form=lambda c: {"inv-email": "colleague@example.cn", "inv-role": _business_role(c)}),
    "org.update_profile": Call(form={"prof-contact_name": "张三", "prof-contact_phone": "025-12345678"}),
    "org.toggle": Call(params={"action": "disable"}),
    "org.grant": Call(form=lambda c: {"grant-roles": _business_role(c)}),
    "org.remove": Call(params={"role": "sme_user"}),
    # administration
    "admin.organization_new": Call(form=lambda c: {"name": "新建的大学", "uscc": c.world.extra["fresh_uscc"],
                                                   "kind": "university", "region_code": "", "superior_id": ""}),
    "admin.organization_suspend": Call(form={"susp-reason": "测试"}),
    "admin.organization_relation": Call(form=lambda c: {"other_uscc": c.world.extra["enterprise_b"].uscc,
                                                        "kind": "shareholding"}),
    "admin.user_create": Call(form=lambda c: {"username": "created1", "email": "created1@example.cn",
                                              "organization_uscc": c.org().uscc, "password": PASSPHRASE}),
    "admin.user_toggle": Call(params={"action": "disable"}),
    "admin.user_grant": Call(form={"roles": "sme_user"}),
    "admin.user_remove_role": Call(params={"role": "sme_user"}),
    "categories.add": Call(form={"add-parent_code": "01", "add-code": "0150", "add-name_zh": "新子类",
                                 "add-name_en": "New sub-class"}),
    "categories.rename": Call(params={"code": "0101"}, form={"c0101-name_zh": "电子光学仪器（改）",
                                                              "c0101-name_en": "Electron optics"}),
    "categories.toggle": Call(params={"code": "0101", "action": "deactivate"}),
    # the provider unit's catalogue
    "provider.create": Call(form=INSTRUMENT_FORM),
    "provider.edit": Call(form=INSTRUMENT_FORM | {"model": "SU8010-改"}),
    ("provider.act", "publish"): Call(params={"action": "publish"}),
    ("provider.act", "submit"): Call(params={"action": "submit"}),
    ("provider.act", "resume"): Call(params={"action": "resume"}),
    ("provider.act", "retire"): Call(params={"action": "retire"}),
    "provider.suspend": _reason("suspend"),
    "catalogue_import.upload": Call(files={"file": (csv_bytes(table([row(2)])), "catalogue.csv")}),
    "catalogue_import.confirm": Call(form=lambda c: {"file_id": str(c.refs["file_id"])}),
    "booking_admin.rules": Call(form=RULES_FORM),
    "booking_admin.add_blackout": Call(form={"blackout-start_date": "2027-02-01", "blackout-start_time": "00:00",
                                             "blackout-end_date": "2027-02-02", "blackout-end_time": "23:59",
                                             "blackout-reason": "春节"}),
    "booking_admin.contract_template": Call(form={name: f"第{i}条：约定的条款。" for i, name in enumerate(
        ("service_terms", "ip_terms", "confidentiality_terms", "damages_terms", "dispute_terms"), 1)}),
    "resources.create": Call(form=lambda c: {"kind": "service_agency", "name_zh": "新的服务机构", "level": "",
                                             "is_published": "y", "organization_uscc": c.org("unit").uscc}),
    "resources.edit": Call(form={"kind": "service_agency", "name_zh": "改名的服务机构", "level": ""}),
    # approvals and clearances
    "approver.review": Call(form={f"review-field_visibility_{name}": "public" for name in RESTRICTABLE} | {
        "review-result": "passed", "review-comment": "同意"}),
    "approver.approve": Call(form={"approve-approval_no": "科工批〔2026〕99号", "approve-valid_until": "2027-12-31"}),
    "approver.revoke": _reason("revoke"),
    "clearances.add": Call(form=lambda c: {"organization_uscc": c.world.extra["enterprise_b"].uscc,
                                           "agreement_version": "v2"}),
    # bookings
    "book.book_time": Call(form={"time-mode": "machine_time", "time-date": "2026-12-11", "time-start": "10:00",
                                 "time-end": "11:00", "time-nonce": "matrix-nonce-0123456789"}),
    "book.book_samples": Call(form={"sample-mode": "sample_testing", "sample-samples": "3",
                                    "sample-wanted_by": "2026-12-20", "sample-nonce": "matrix-nonce-0123456789"}),
    "bookings.reject": _reason("reject"),
    "bookings.cancel": Call(form={"cancel-reason": "计划变更", "cancel-confirm_late": "1"}),
    "bookings.complete_no_show": _reason("noshow"),
    # service records and the ledger
    "ledger.from_booking": Call(form={"start_date": "2026-12-02", "start_time": "14:00", "end_date": "2026-12-02",
                                      "end_time": "15:00"}),
    "ledger.new": Call(form=lambda c: {"instrument_id": str(c.refs["instrument_id"]), "mode": "machine_time",
                                       "organization_uscc": c.org().uscc, "start_date": "2026-12-08",
                                       "start_time": "09:00", "end_date": "2026-12-08", "end_time": "10:00"}),
    "ledger.add_entry": Call(form={"entry-kind": "payment", "entry-amount": "10.00", "entry-entry_date": "2026-12-08"}),
    "ledger.dispute": _reason("dispute"),
    "ledger.answer": Call(form={"answer-answer": "已核实"}),
    "ledger.rate": Call(form={"rating-score": "5"}),
    "adjustments.reject": _reason("reject"),
    # reports and vouchers
    "reports.generate": Call(form=lambda c: {"year": "2026", "quarter": "3", "scope": str(c.refs["org_id"])}),
    ("reports.generate", "platform"): Call(form={"year": "2026", "quarter": "3", "scope": "platform"}),
    "vouchers.new_claim": Call(form=lambda c: {"policy_id": str(c.world.extra["policy_id"]), "action": "create",
                                               "record_ids": str(c.refs.get("service_record_id", ""))}),
    "vouchers.update_lines": Call(form=lambda c: {"lines-record_ids": str(c.refs["service_record_id"])}),
    "vouchers.add_evidence": Call(files={"evidence-file": PDF["file"]}),
    "voucher_audit.reject": _reason("reject"),
    "voucher_audit.return_claim": _reason("return"),
    "voucher_audit.pay": Call(form={"pay-paid_on": "2026-12-09", "pay-payment_ref": "财付〔2026〕1号"}),
    "voucher_audit.export_file": Call(params={"report": "claims", "fmt": "csv"}),
    "voucher_audit.new_policy": Call(form=POLICY_FORM),

    # ======================================================== the JSON API
    "api.create_token_post": Call(json=_totp),  # with HTTP Basic credentials (the runner adds them)
    ("api.create_organization_post", "self_registration"): Call(json=lambda c: {
        "name": "经接口注册的企业", "uscc": c.world.extra["fresh_uscc"], "kind": "enterprise",
        "first_user": {"username": "selfregistered", "password": PASSPHRASE, "email": "selfreg@example.cn"}}),
    ("api.create_organization_post", "university"): Call(json=lambda c: {
        "name": "经接口创建的大学", "uscc": c.world.extra["fresh_uscc"], "kind": "university"}),
    ("api.patch_organization_patch", "contact"): Call(json={"contact_name": "李四"}),
    ("api.patch_organization_patch", "dishonest"): Call(json={"dishonest": True}),
    "api.suspend_organization_post": Call(json=REASON),
    "api.add_relation_post": Call(json=lambda c: {"other_id": c.world.extra["enterprise_b"].id,
                                                  "kind": "shareholding"}),
    "api.create_invitation_post": Call(json={"email": "colleague@example.cn", "role": "sme_user"}),
    "api.get_eligibility_get": Call(query={"year": "2026"}),
    "api.create_user_post": Call(json=lambda c: {"username": "apicreated", "password": PASSPHRASE,
                                                 "email": "apicreated@example.cn",
                                                 "organization_id": c.refs["org_id"]}),
    "api.disable_user_post": Call(json=REASON),
    "api.grant_roles_post": Call(json={"roles": ["sme_user"]}),
    "api.remove_role_delete": Call(params={"role": "sme_user"}),
    "api.create_instrument_post": Call(json=lambda c: values() | {"owner_id": c.refs["org_id"]}),
    "api.patch_instrument_patch": Call(json={"model": "SU8010-改"}),
    "api.instrument_review_post": Call(json={"result": "passed", "field_visibility": dict.fromkeys(
        RESTRICTABLE, "public"), "comment": "同意"}),
    "api.instrument_approve_post": Call(json={"approval_no": "科工批〔2026〕99号"}),
    "api.instrument_revoke_post": Call(json=REASON), "api.instrument_suspend_post": Call(json=REASON),
    "api.get_availability_get": Call(query={"from": "2026-12-09", "to": "2026-12-15"}),
    "api.put_rules_put": Call(json={}),
    "api.add_clearance_post": Call(json=lambda c: {"organization_id": c.world.extra["enterprise_b"].id,
                                                   "agreement_version": "v2"}),
    ("api.remove_clearance_delete", "pending"): Call(params=lambda c: {"organization_id": c.org().id}),
    "api.create_resource_post": Call(json=lambda c: {"kind": "service_agency", "name_zh": "新的服务机构",
                                                     "organization_id": c.refs["org_id"]}),
    "api.patch_resource_patch": Call(json={"name_zh": "改名的服务机构"}),
    "api.create_booking_post": Call(json=lambda c: {"instrument_id": c.refs["instrument_id"],
                                                    "mode": "machine_time"} | LATER_SLOT),
    "api.booking_reject_post": Call(json=REASON), "api.booking_cancel_post": Call(json=REASON),
    "api.booking_complete_no_show_post": Call(json=REASON),
    "api.record_from_booking_post": Call(json=SERVICE_TIMES),
    "api.create_record_post": Call(json=lambda c: {
        "instrument_id": c.refs["instrument_id"], "organization_id": c.org().id, "mode": "machine_time",
        "actual_start": "2026-12-08T09:00:00+08:00", "actual_end": "2026-12-08T10:00:00+08:00"}),
    "api.dispute_record_post": Call(json=REASON), "api.answer_dispute_post": Call(json={"answer": "已核实"}),
    "api.rate_record_post": Call(json={"score": 5}),
    "api.create_entry_post": Call(json=lambda c: {"service_record_id": c.refs["service_record_id"],
                                                  "kind": "payment", "amount_fen": 1000,
                                                  "entry_date": "2026-12-08"}),
    "api.reject_request_post": Call(json=REASON),
    ("api.get_statistics_get", "city"): Call(query={"year": "2026"}),
    "api.get_statistics_get": Call(query=lambda c: {"year": "2026", "unit_id": c.refs["org_id"]}),
    ("api.get_statistics_get", "organization"): Call(query=lambda c: {"year": "2026",
                                                                      "organization_id": c.refs["org_id"]}),
    ("api.get_statistics_get", "instrument"): Call(query=lambda c: {"year": "2026",
                                                                    "instrument_id": c.refs["instrument_id"]}),
    "api.create_policy_post": Call(json={"year": 2027, "valid_from": "2027-01-01", "valid_to": "2027-12-31",
                                         "budget_fen": 100_000_000}),
    "api.get_policy_get": Call(params=lambda c: {"policy_id": c.world.extra["policy_id"]}),
    "api.create_claim_post": Call(json=lambda c: {"policy_id": c.world.extra["policy_id"],
                                                  "service_record_ids": [c.refs["service_record_id"]]}),
    "api.update_claim_patch": Call(json=lambda c: {"service_record_ids": [c.refs["service_record_id"]]}),
    "api.add_evidence_post": Call(files=PDF),
    "api.submit_claim_post": Call(json={}),
    "api.reject_claim_post": Call(json=REASON), "api.return_claim_post": Call(json=REASON),
    "api.pay_claim_post": Call(json={"paid_on": "2026-12-09", "payment_ref": "财付〔2026〕1号"}),
}


def call_for(endpoint: str, variant: str) -> Call:
    return CALLS.get((endpoint, variant)) or CALLS.get(endpoint) or Call()


def resolve(value, cell: Cell):
    return value(cell) if callable(value) else value


def streams(files: dict) -> dict:
    """Fresh file streams (a stream is consumed by the request that sends it)."""
    return {name: (io.BytesIO(data), filename) for name, (data, filename) in files.items()}
