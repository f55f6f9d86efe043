"""THE AUTHORISATION MATRIX: for every route of the URL map, who may succeed.

One entry per endpoint (the name Flask gives the route: "blueprint.function"; API endpoints are "api.<function>_
<method>"). An entry is one `Access`, or a tuple of them when the route is called in several ways (variants: another
body, another object, another method). Every principal (PRINCIPALS) not named in an Access must be refused: no 2xx,
and for pages no redirect except to the login page (a redirect that flashes an error counts as a refusal, as the page
says so). A principal named must succeed, so that a missing check would show.

`on` names the kind of object whose ids fill the URL (and the body's references); the test builds each kind twice,
"own" (the booking enterprise A, the owning defence unit D, its superior authority S — the principals'
organisations) and "other" (the same set of organisations again, where no principal belongs), and asks `own` and
`other` separately. Routes without an object are asked once per principal.

OBJECTS says who may see each kind of object at all. Everyone else must get exactly the answer a missing id gets
(docs/api.md: 404 "absent or not visible to the caller"), so that ids of other organisations' objects reveal nothing.

tests/authz_world.py builds the objects, tests/authz_requests.py the bodies, tests/security/test_authz_matrix.py
runs it.
"""

from dataclasses import dataclass

# ---------------------------------------------------------------- principals

ANON = "anonymous"
SME = "sme_user"  # sme_user and manager of the booking enterprise A (A is cleared by D)
SME_OTHER = "sme_user_other"  # sme_user and manager of another enterprise (uses two-factor login by choice)
OPERATOR = "operator"  # provider_operator and manager of the owning defence unit D
OPERATOR_OTHER = "operator_other"  # provider_operator and manager of another unit (a university, civilian)
UNIT_APPROVER = "unit_approver"  # defence_approver of D (its confidentiality reviewer)
AUTHORITY_APPROVER = "authority_approver"  # defence_approver and manager of S, D's superior authority
OTHER_AUTHORITY_APPROVER = "other_authority_approver"  # defence_approver and manager of another authority
AUDITOR = "commission_auditor"
OFFICER = "commission_officer"
SYSADMIN = "system_admin"
SECADMIN = "security_admin"
AUDITADMIN = "audit_admin"

PRINCIPALS = (ANON, SME, SME_OTHER, OPERATOR, OPERATOR_OTHER, UNIT_APPROVER, AUTHORITY_APPROVER,
              OTHER_AUTHORITY_APPROVER, AUDITOR, OFFICER, SYSADMIN, SECADMIN, AUDITADMIN)
EVERYONE = frozenset(PRINCIPALS)
SIGNED_IN = EVERYONE - {ANON}
COMMISSION = frozenset({AUDITOR, OFFICER})
MANAGERS = frozenset({SME, SME_OTHER, OPERATOR, OPERATOR_OTHER, AUTHORITY_APPROVER, OTHER_AUTHORITY_APPROVER})
OPERATORS = frozenset({OPERATOR, OPERATOR_OTHER})  # operators of verified provider units (each of its own)
APPROVERS = frozenset({UNIT_APPROVER, AUTHORITY_APPROVER, OTHER_AUTHORITY_APPROVER})
ADMINS = frozenset({SYSADMIN, SECADMIN, AUDITADMIN})
# Who may see the schedule and book D's defence listing: A (cleared), D itself and its approvers.
SCHEDULE = frozenset({SME, OPERATOR, UNIT_APPROVER, AUTHORITY_APPROVER})
UNIT_PEOPLE = frozenset({OPERATOR, UNIT_APPROVER, AUTHORITY_APPROVER})  # who sees D's unpublished listings


@dataclass(frozen=True)
class Access:
    own: frozenset  # who may succeed on the own object (without an object: at all)
    other: frozenset = frozenset()  # who may succeed on another organisation's object
    on: str | None = None  # the kind of object (OBJECTS); None: the route has no object
    variant: str = ""  # another way to call the route (its body lives in authz_requests under this name)
    method: str | None = None  # only this method of a route with several


def anyone(**kw) -> Access:
    return Access(EVERYONE, **kw)


def only(*who, **kw) -> Access:
    return Access(frozenset().union(*(w if isinstance(w, frozenset) else {w} for w in who)), **kw)


def on(kind: str, own=(), other=(), **kw) -> Access:
    return Access(frozenset(own), frozenset(other), on=kind, **kw)


# ---------------------------------------------------------------- who may see each kind of object

@dataclass(frozen=True)
class Readers:
    own: frozenset
    other: frozenset = frozenset()


PUBLIC = None  # visible to everyone: a refusal may say so (403)
RECORD_READERS = Readers(frozenset({SME, OPERATOR}) | COMMISSION, COMMISSION)
CLAIM_READERS = Readers(frozenset({SME}) | COMMISSION, COMMISSION)
OBJECTS = {
    # instruments of D (defence listings)
    "published": PUBLIC,
    "draft": Readers(UNIT_PEOPLE), "in_review": Readers(UNIT_PEOPLE), "reviewed": Readers(UNIT_PEOPLE),
    "suspended": Readers(UNIT_PEOPLE),
    "civilian_draft": Readers(frozenset({OPERATOR_OTHER})),  # own: a draft of the other operator's university
    "blackout": PUBLIC,  # a closed period of the published listing
    # bookings of A on D's listing: the booking organisation and the owning unit's operators
    "pending_booking": Readers(frozenset({SME, OPERATOR})), "confirmed_booking": Readers(frozenset({SME, OPERATOR})),
    "no_show_booking": Readers(frozenset({SME, OPERATOR})),
    "in_progress_booking": Readers(frozenset({SME, OPERATOR})),
    # service records of D for A, and what hangs on them
    "record": RECORD_READERS, "disputed_record": RECORD_READERS, "adjustment": RECORD_READERS,
    "free_record": RECORD_READERS,  # paid and in no claim yet
    # voucher claims of A
    "draft_claim": CLAIM_READERS, "submitted_claim": CLAIM_READERS, "review_claim": CLAIM_READERS,
    "approved_claim": CLAIM_READERS, "evidence": CLAIM_READERS,
    "report": Readers(frozenset({OPERATOR}) | COMMISSION, COMMISSION),  # D's quarterly report
    "resource": Readers(frozenset({OPERATOR, SYSADMIN}), frozenset({SYSADMIN})),  # D's unpublished resource
    "import_file": Readers(frozenset({OPERATOR})),  # D's uploaded catalogue file
    "import_job": Readers(frozenset({OPERATOR})),  # D's background import (its check, queued)
    # organisations: verified ones are public; a pending one is seen by the administrators who handle it
    "enterprise": PUBLIC, "unit": PUBLIC, "cleared": PUBLIC,
    "pending_org": Readers(frozenset({SYSADMIN}) | COMMISSION, frozenset({SYSADMIN}) | COMMISSION),
    # a colleague of the SME user in A (and one disabled): colleagues and the account administrators
    "colleague": Readers(frozenset({SME, SYSADMIN, SECADMIN}), frozenset({SYSADMIN, SECADMIN})),
    "disabled_colleague": Readers(frozenset({SME, SYSADMIN, SECADMIN}), frozenset({SYSADMIN, SECADMIN})),
    # the principal's own notification / API token, and somebody else's
    "notification": Readers(SIGNED_IN), "token": Readers(SIGNED_IN),
}

# ---------------------------------------------------------------- the table

MATRIX: dict[str, Access | tuple[Access, ...]] = {
    # -------------------------------------------------------- public pages, sign-in and capability links
    "main.home": anyone(),
    "main.set_language": anyone(),
    "static": anyone(),
    "auth.login": anyone(),  # signed in: back to the home page
    "auth.totp": anyone(), "auth.totp_enrol": anyone(),  # without a pending sign-in: back to /login
    "auth.logout": only(SIGNED_IN),
    "auth.register": anyone(),  # enterprises register themselves
    "auth.forgot_password": anyone(),
    # Whoever holds a valid link may use it (the secret is the authorisation).
    "auth.confirm_email": anyone(), "auth.reset_password": anyone(), "auth.accept_invitation": anyone(),
    "calendars.user_feed": anyone(),
    "catalogue.index": anyone(), "catalogue.export": anyone(), "catalogue.sitemap": anyone(),
    "catalogue.detail": (on("published", own=EVERYONE, other=EVERYONE), on("draft", own=UNIT_PEOPLE, variant="draft")),
    "catalogue_import.template": anyone(),
    "audit_public.anchors": anyone(),  # the daily audit chain anchors are published
    "dashboards.index": anyone(), "dashboards.city": anyone(),
    "resources.index": anyone(),
    "vouchers.public_notices": anyone(), "voucher_audit.policy_list": anyone(),
    "org.public": (on("enterprise", own=EVERYONE, other=EVERYONE),
                   on("pending_org", own={SYSADMIN} | COMMISSION, other={SYSADMIN} | COMMISSION, variant="pending")),
    # -------------------------------------------------------- the signed-in person's own pages
    "profile.show": only(SIGNED_IN), "profile.change_password": only(SIGNED_IN),
    "profile.enrol_totp": only(SIGNED_IN), "profile.create_token": only(SIGNED_IN),
    # Those whose roles do not require two-factor login may switch it off (a no-op when it is off).
    "profile.disable_totp": only(SME, SME_OTHER, OPERATORS),
    "profile.revoke_token": on("token", own=SIGNED_IN),
    "notifications.index": only(SIGNED_IN), "notifications.read_all": only(SIGNED_IN),
    "notifications.read": on("notification", own=SIGNED_IN),
    "calendars.rotate": only(SIGNED_IN), "calendars.revoke": only(SIGNED_IN),
    "bookings.mine": only(SIGNED_IN), "ledger.index": only(SIGNED_IN),
    "vouchers.index": only(SIGNED_IN), "vouchers.eligibility_page": only(SIGNED_IN),
    # -------------------------------------------------------- an organisation's own page (its manager acts)
    "org.mine": only(SIGNED_IN),
    "org.invite": only(MANAGERS),
    "org.update_profile": only(MANAGERS, SYSADMIN),  # the system administrator edits contact data of any, here its own
    "org.toggle": on("colleague", own={SME}), "org.grant": on("colleague", own={SME}),
    "org.remove": on("colleague", own={SME}),
    # -------------------------------------------------------- administration
    "admin.organizations_list": only(SYSADMIN), "admin.organization_new": only(SYSADMIN),
    "admin.organization_detail": on("pending_org", own={SYSADMIN}, other={SYSADMIN}),
    "admin.organization_verify": on("pending_org", own={SYSADMIN}, other={SYSADMIN}),
    "admin.organization_suspend": on("enterprise", own={SYSADMIN}, other={SYSADMIN}),
    "admin.organization_relation": on("enterprise", own={SYSADMIN}, other={SYSADMIN}),
    "admin.users_list": only(SYSADMIN, SECADMIN), "admin.user_create": only(SYSADMIN),
    "admin.user_detail": on("colleague", own={SYSADMIN, SECADMIN}, other={SYSADMIN, SECADMIN}),
    "admin.user_toggle": on("colleague", own={SYSADMIN}, other={SYSADMIN}),
    "admin.user_grant": on("colleague", own={SECADMIN}, other={SECADMIN}),
    "admin.user_remove_role": on("colleague", own={SECADMIN}, other={SECADMIN}),
    "categories.index": only(SYSADMIN), "categories.add": only(SYSADMIN), "categories.rename": only(SYSADMIN),
    "categories.toggle": only(SYSADMIN),
    "audit.entries": only(AUDITADMIN), "audit.verify": only(AUDITADMIN),
    # -------------------------------------------------------- the provider unit's catalogue
    "provider.instruments": only(OPERATORS), "provider.create": only(OPERATORS),
    "provider.manage": on("draft", own={OPERATOR}),
    "provider.edit": on("draft", own={OPERATOR}),
    "provider.act": (on("civilian_draft", own={OPERATOR_OTHER}, variant="publish"),
                     on("draft", own={OPERATOR}, variant="submit"),
                     on("suspended", own={OPERATOR}, variant="resume"),
                     on("published", own={OPERATOR}, variant="retire")),
    "provider.suspend": on("published", own={OPERATOR}),
    "catalogue_import.upload_page": only(OPERATORS), "catalogue_import.upload": only(OPERATORS),
    "catalogue_import.confirm": on("import_file", own={OPERATOR}),
    "catalogue_import.job": on("import_job", own={OPERATOR}),
    "catalogue_import.job_errors": on("import_job", own={OPERATOR}),
    "booking_admin.rules": on("published", own={OPERATOR}),
    "booking_admin.add_blackout": on("published", own={OPERATOR}),
    "booking_admin.remove_blackout": on("blackout", own={OPERATOR}),
    "booking_admin.contract_template": only(OPERATORS),
    "resources.create": only(OPERATORS, SYSADMIN),
    "resources.detail": on("resource", own={OPERATOR, SYSADMIN}, other={SYSADMIN}),
    "resources.edit": on("resource", own={OPERATOR, SYSADMIN}, other={SYSADMIN}),
    # -------------------------------------------------------- defence approvals and clearances
    "approver.queue": only(APPROVERS),
    "approver.instrument": on("in_review", own={UNIT_APPROVER, AUTHORITY_APPROVER}),
    "approver.review": on("in_review", own={UNIT_APPROVER}),
    "approver.approve": on("reviewed", own={AUTHORITY_APPROVER}),
    "approver.revoke": on("published", own={UNIT_APPROVER, AUTHORITY_APPROVER}),
    "clearances.index": only(OPERATOR, UNIT_APPROVER), "clearances.add": only(OPERATOR, UNIT_APPROVER),
    "clearances.remove": on("cleared", own={OPERATOR, UNIT_APPROVER}),
    # -------------------------------------------------------- booking an instrument
    "book.page": on("published", own=SCHEDULE),
    "book.book_time": on("published", own={SME}), "book.book_samples": on("published", own={SME}),
    "calendars.instrument_feed": on("published", own=SCHEDULE),
    "bookings.queue": only(OPERATORS),
    "bookings.detail": on("pending_booking", own={SME, OPERATOR}),
    "bookings.contract": on("confirmed_booking", own={SME, OPERATOR}),
    "bookings.confirm": on("pending_booking", own={OPERATOR}),
    "bookings.reject": on("pending_booking", own={OPERATOR}),
    "bookings.cancel": on("pending_booking", own={SME, OPERATOR}),
    "bookings.start": on("confirmed_booking", own={OPERATOR}),
    "bookings.complete_no_show": on("no_show_booking", own={OPERATOR}),
    # -------------------------------------------------------- service records and the ledger
    "ledger.from_booking": on("in_progress_booking", own={OPERATOR}),
    "ledger.new": (only(OPERATORS, method="GET"), on("published", own={OPERATOR}, method="POST")),
    "ledger.detail": on("record", own={SME, OPERATOR} | COMMISSION, other=COMMISSION),
    "ledger.add_entry": on("record", own={OPERATOR}),
    "ledger.dispute": on("record", own={SME}), "ledger.rate": on("record", own={SME}),
    "ledger.answer": on("disputed_record", own={OPERATOR}),
    "adjustments.queue": only(OPERATORS),
    "adjustments.approve": on("adjustment", own={OPERATOR}), "adjustments.reject": on("adjustment", own={OPERATOR}),
    # -------------------------------------------------------- statistics, reports, dashboards
    "dashboards.unit": only(OPERATORS), "dashboards.commission": only(COMMISSION),
    "dashboards.organization": only(SME, SME_OTHER, OPERATORS),
    "reports.index": only(OPERATORS, COMMISSION),
    "reports.generate": (on("unit", own={OPERATOR} | COMMISSION, other=COMMISSION),
                         only(COMMISSION, variant="platform")),
    "reports.download": on("report", own={OPERATOR} | COMMISSION, other=COMMISSION),
    # -------------------------------------------------------- vouchers
    "vouchers.new_claim": (only(SME, SME_OTHER, method="GET"), on("free_record", own={SME}, method="POST")),
    "vouchers.detail": on("draft_claim", own={SME} | COMMISSION, other=COMMISSION),
    "vouchers.update_lines": on("draft_claim", own={SME}), "vouchers.add_evidence": on("draft_claim", own={SME}),
    "vouchers.submit": on("draft_claim", own={SME}), "vouchers.withdraw": on("submitted_claim", own={SME}),
    "vouchers.evidence_file": on("evidence", own={SME} | COMMISSION, other=COMMISSION),
    "voucher_audit.queue": only(COMMISSION), "voucher_audit.export_index": only(COMMISSION),
    "voucher_audit.export_file": only(COMMISSION),
    "voucher_audit.review": on("submitted_claim", own={AUDITOR}, other={AUDITOR}),
    "voucher_audit.reject": on("submitted_claim", own={AUDITOR}, other={AUDITOR}),
    "voucher_audit.return_claim": on("submitted_claim", own={AUDITOR}, other={AUDITOR}),
    "voucher_audit.approve": on("review_claim", own={AUDITOR}, other={AUDITOR}),
    "voucher_audit.refresh_signals": on("submitted_claim", own=COMMISSION, other=COMMISSION),
    "voucher_audit.pay": on("approved_claim", own={OFFICER}, other={OFFICER}),
    "voucher_audit.payouts": only(OFFICER), "voucher_audit.new_policy": only(OFFICER),

    # ======================================================== the JSON API (/api/v1)
    "api.openapi_document_get": anyone(),
    "api.create_token_post": only(SIGNED_IN),  # HTTP Basic credentials (and the code for two-factor accounts)
    "api.list_tokens_get": only(SIGNED_IN),
    "api.revoke_token_delete": on("token", own=SIGNED_IN),
    "api.me_get": only(SIGNED_IN),
    # organisations
    "api.create_organization_post": (only(ANON, SYSADMIN, variant="self_registration"),
                                     only(SYSADMIN, variant="university")),
    "api.list_organizations_get": anyone(),
    "api.get_organization_get": (on("enterprise", own=EVERYONE, other=EVERYONE),
                                 on("pending_org", own={SYSADMIN} | COMMISSION, other={SYSADMIN} | COMMISSION,
                                    variant="pending")),
    "api.patch_organization_patch": (on("enterprise", own={SME, SYSADMIN}, other={SYSADMIN}, variant="contact"),
                                     on("enterprise", own={OFFICER}, other={OFFICER}, variant="dishonest")),
    "api.verify_organization_post": on("pending_org", own={SYSADMIN}, other={SYSADMIN}),
    "api.suspend_organization_post": on("enterprise", own={SYSADMIN}, other={SYSADMIN}),
    "api.add_relation_post": on("enterprise", own={SYSADMIN}, other={SYSADMIN}),
    "api.list_relations_get": (on("enterprise", own={SME, SYSADMIN} | COMMISSION, other={SYSADMIN} | COMMISSION),
                               on("pending_org", own={SYSADMIN} | COMMISSION, other={SYSADMIN} | COMMISSION,
                                  variant="pending")),
    "api.create_invitation_post": on("enterprise", own={SME}),
    "api.list_invitations_get": on("enterprise", own={SME, SYSADMIN}, other={SYSADMIN}),
    "api.get_eligibility_get": (on("enterprise", own={SME, SYSADMIN} | COMMISSION, other={SYSADMIN} | COMMISSION),
                                on("pending_org", own={SYSADMIN} | COMMISSION, other={SYSADMIN} | COMMISSION,
                                   variant="pending")),
    # users and roles
    "api.create_user_post": on("enterprise", own={SYSADMIN}, other={SYSADMIN}),
    "api.list_users_get": only(MANAGERS, SYSADMIN, SECADMIN),
    "api.get_user_get": on("colleague", own={SME, SYSADMIN, SECADMIN}, other={SYSADMIN, SECADMIN}),
    "api.disable_user_post": on("colleague", own={SME, SYSADMIN}, other={SYSADMIN}),
    "api.enable_user_post": on("disabled_colleague", own={SME, SYSADMIN}, other={SYSADMIN}),
    "api.grant_roles_post": on("colleague", own={SME, SECADMIN}, other={SECADMIN}),
    "api.remove_role_delete": on("colleague", own={SME, SECADMIN}, other={SECADMIN}),
    # instruments, clearances, resources
    "api.list_categories_get": anyone(), "api.list_instruments_get": anyone(),
    "api.get_instrument_get": (on("published", own=EVERYONE, other=EVERYONE),
                               on("draft", own=UNIT_PEOPLE, variant="draft")),
    "api.create_instrument_post": on("unit", own={OPERATOR}),  # owner_id names the unit
    "api.patch_instrument_patch": on("draft", own={OPERATOR}),
    "api.instrument_publish_post": on("civilian_draft", own={OPERATOR_OTHER}),
    "api.instrument_submit_post": on("draft", own={OPERATOR}),
    "api.instrument_review_post": on("in_review", own={UNIT_APPROVER}),
    "api.instrument_approve_post": on("reviewed", own={AUTHORITY_APPROVER}),
    "api.instrument_revoke_post": on("published", own={UNIT_APPROVER, AUTHORITY_APPROVER}),
    "api.instrument_suspend_post": on("published", own={OPERATOR}),
    "api.instrument_resume_post": on("suspended", own={OPERATOR}),
    "api.instrument_retire_post": on("published", own={OPERATOR}),
    "api.get_availability_get": on("published", own=SCHEDULE),
    "api.get_rules_get": on("published", own=SCHEDULE),
    "api.put_rules_put": on("published", own={OPERATOR}),
    # Clearances of a defence unit; a pending organisation's id must answer like a missing one.
    "api.add_clearance_post": (on("unit", own={OPERATOR, UNIT_APPROVER}), on("pending_org", variant="pending")),
    "api.list_clearances_get": (on("unit", own={OPERATOR, UNIT_APPROVER}), on("pending_org", variant="pending")),
    "api.remove_clearance_delete": (on("cleared", own={OPERATOR, UNIT_APPROVER}),
                                    on("pending_org", variant="pending")),
    "api.list_resources_get": anyone(),
    "api.create_resource_post": on("unit", own={OPERATOR, SYSADMIN}, other={SYSADMIN}),
    "api.get_resource_get": on("resource", own={OPERATOR, SYSADMIN}, other={SYSADMIN}),
    "api.patch_resource_patch": on("resource", own={OPERATOR, SYSADMIN}, other={SYSADMIN}),
    # bookings
    "api.create_booking_post": on("published", own={SME}),
    "api.list_bookings_get": only(SIGNED_IN),
    "api.get_booking_get": on("pending_booking", own={SME, OPERATOR}),
    "api.booking_confirm_post": on("pending_booking", own={OPERATOR}),
    "api.booking_reject_post": on("pending_booking", own={OPERATOR}),
    "api.booking_cancel_post": on("pending_booking", own={SME, OPERATOR}),
    "api.booking_start_post": on("confirmed_booking", own={OPERATOR}),
    "api.booking_complete_no_show_post": on("no_show_booking", own={OPERATOR}),
    # service records, ledger, adjustment requests, statistics
    "api.record_from_booking_post": on("in_progress_booking", own={OPERATOR}),
    "api.create_record_post": on("published", own={OPERATOR}),
    "api.list_records_get": only(SIGNED_IN),
    "api.get_record_get": on("record", own={SME, OPERATOR} | COMMISSION, other=COMMISSION),
    "api.dispute_record_post": on("record", own={SME}),
    "api.answer_dispute_post": on("disputed_record", own={OPERATOR}),
    "api.rate_record_post": on("record", own={SME}),
    "api.create_entry_post": on("record", own={OPERATOR}),
    "api.list_entries_get": only(SIGNED_IN),
    "api.list_requests_get": only(SIGNED_IN),
    "api.get_request_get": on("adjustment", own={SME, OPERATOR} | COMMISSION, other=COMMISSION),
    "api.approve_request_post": on("adjustment", own={OPERATOR}),
    "api.reject_request_post": on("adjustment", own={OPERATOR}),
    "api.get_statistics_get": (anyone(variant="city"),
                               on("unit", own={OPERATOR} | COMMISSION, other=COMMISSION),
                               on("enterprise", own={SME} | COMMISSION, other=COMMISSION, variant="organization"),
                               on("pending_org", own=COMMISSION, other=COMMISSION, variant="organization"),
                               on("published", own={OPERATOR} | COMMISSION, other=COMMISSION, variant="instrument")),
    # vouchers
    "api.list_policies_get": anyone(), "api.get_policy_get": anyone(), "api.list_notices_get": anyone(),
    "api.create_policy_post": only(OFFICER),
    "api.create_claim_post": on("free_record", own={SME}),  # service_record_ids name the records claimed
    "api.list_claims_get": only(SIGNED_IN),
    "api.get_claim_get": on("draft_claim", own={SME} | COMMISSION, other=COMMISSION),
    "api.update_claim_patch": on("draft_claim", own={SME}),
    "api.add_evidence_post": on("draft_claim", own={SME}),
    "api.submit_claim_post": on("draft_claim", own={SME}),
    "api.withdraw_claim_post": on("submitted_claim", own={SME}),
    "api.review_claim_post": on("submitted_claim", own={AUDITOR}, other={AUDITOR}),
    "api.reject_claim_post": on("submitted_claim", own={AUDITOR}, other={AUDITOR}),
    "api.return_claim_post": on("submitted_claim", own={AUDITOR}, other={AUDITOR}),
    "api.approve_claim_post": on("review_claim", own={AUDITOR}, other={AUDITOR}),
    "api.pay_claim_post": on("approved_claim", own={OFFICER}, other={OFFICER}),
    # audit log
    "api.audit_entries_get": only(AUDITADMIN), "api.audit_verify_get": only(AUDITADMIN),
    "api.audit_anchors_get": anyone(),  # published daily heads of the audit chain
}


def accesses(endpoint: str) -> tuple[Access, ...]:
    entry = MATRIX[endpoint]
    return entry if isinstance(entry, tuple) else (entry,)
