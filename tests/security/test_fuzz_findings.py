"""What the fuzz tests found, kept as plain examples: each answered 500 before its fix.

API: ids and counts beyond what an INTEGER column holds reached the database driver (SQLite from 2**63,
PostgreSQL from 2**31), and a resource could name an organisation that does not exist. Pages: a file posted under
a text field's name reached the field as an upload object instead of text.
"""

import io

import pytest

from instrument_share.accounts.roles import Role
from instrument_share.db import MAX_ID

from ..booking_support import iso
from ..catalogue_support import civilian_unit, defence_unit, publish_civilian
from ..factories import csrf_from, login, sign_in
from ..platform.test_api_errors import assert_error_shape

TOO_BIG = [MAX_ID + 1, 2**63, 10**30]


@pytest.fixture
def unit(factory):
    return civilian_unit(factory)


@pytest.mark.parametrize("number", TOO_BIG)
def test_an_instrument_id_no_column_holds_is_refused_when_booking(client, factory, unit, number):
    sme = factory.user(factory.org("enterprise"), (Role.sme_user,))
    response = client.post("/api/v1/bookings", headers=factory.bearer(sme), json={
        "instrument_id": number, "mode": "machine_time", "start": iso(1, "10:00"), "end": iso(1, "11:00")})
    assert "instrument_id" in assert_error_shape(response, 422)["fields"]


@pytest.mark.parametrize("number", TOO_BIG)
def test_a_cleared_organisation_id_no_column_holds_is_refused(client, factory, number):
    unit = defence_unit(factory)
    response = client.post(f"/api/v1/organizations/{unit.org.id}/clearances", headers=unit.h("operator"),
                           json={"organization_id": number, "agreement_version": "保密协议2026"})
    assert "organization_id" in assert_error_shape(response, 422)["fields"]


@pytest.mark.parametrize("number", TOO_BIG)
def test_resource_ids_no_column_holds_are_refused(client, factory, unit, number):
    publish_civilian(unit)
    admin = factory.bearer(factory.user(factory.org("commission"), (Role.system_admin,)))
    for headers, field, body in ((unit.h("operator"), "instrument_ids.0", {"instrument_ids": [number]}),
                                 (admin, "organization_id", {"organization_id": number})):
        response = client.post("/api/v1/resources", headers=headers,
                               json={"kind": "testing_centre", "name_zh": "中心"} | body)
        assert field in assert_error_shape(response, 422)["fields"]
    created = client.post("/api/v1/resources", headers=unit.h("operator"),
                          json={"kind": "testing_centre", "name_zh": "中心"})
    assert created.status_code == 201
    response = client.patch(f"/api/v1/resources/{created.get_json()['id']}", headers=unit.h("operator"),
                            json={"instrument_ids": [number]})
    assert "instrument_ids.0" in assert_error_shape(response, 422)["fields"]


def test_a_resource_of_an_organisation_that_does_not_exist_is_refused(client, factory):
    admin = factory.bearer(factory.user(factory.org("commission"), (Role.system_admin,)))
    response = client.post("/api/v1/resources", headers=admin,
                           json={"kind": "testing_centre", "name_zh": "中心", "organization_id": 999_999})
    assert "organization_id" in assert_error_shape(response, 422)["fields"]


@pytest.mark.parametrize("quota", [2**31, 2**63, 10**30])
def test_a_booking_quota_beyond_the_limit_is_refused(client, unit, quota):
    instrument = publish_civilian(unit)
    response = client.put(f"/api/v1/instruments/{instrument.id}/booking-rules", headers=unit.h("operator"),
                          json={"quota_hours_per_org": quota})
    assert "quota_hours_per_org" in assert_error_shape(response, 422)["fields"]


def test_the_largest_quota_the_form_takes_is_still_taken(client, unit):
    instrument = publish_civilian(unit)
    response = client.put(f"/api/v1/instruments/{instrument.id}/booking-rules", headers=unit.h("operator"),
                          json={"quota_hours_per_org": 100_000})
    assert response.status_code == 200 and response.get_json()["quota_hours_per_org"] == 100_000


def _upload() -> tuple:
    return io.BytesIO(b"%PDF-1.4 not text"), "proof.pdf"


def test_a_file_posted_as_the_password_is_refused_not_500(client, factory):
    user = factory.user(roles=(Role.sme_user,))
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": user.username, "password": _upload(), "csrf_token": token})
    assert response.status_code < 500 and response.status_code != 302
    assert login(client, user.username).status_code == 302  # the account still works


@pytest.mark.parametrize(("path", "field"), [("/admin/users", "username"), ("/admin/users", "email"),
                                             ("/admin/organizations/new", "name")])
def test_a_file_posted_as_a_text_field_is_shown_as_invalid(client, factory, path, field):
    admin = factory.user(factory.org("commission"), (Role.system_admin,), totp=True)
    sign_in(client, factory, admin)
    token = csrf_from(client.get(path if path.endswith("new") else "/admin/users").get_data(as_text=True))
    response = client.post(path, data={field: _upload(), "csrf_token": token})
    assert response.status_code == 422
    assert "Traceback" not in response.get_data(as_text=True)


# ---------------------------------------------------------------- found by the long runs (scripts/fuzz.py)

UNICODE_DIGITS = ["١٢٣٤٥٦", "²²²²²²", "１２３４５６"]  # str.isdigit() says yes to all three; int() and compare_digest
# do not take them all


@pytest.mark.parametrize("code", UNICODE_DIGITS)
def test_a_two_factor_code_in_other_digits_is_wrong_not_500(client, factory, code):
    import base64

    from ..factories import PASSWORD

    user = factory.user(roles=(Role.sme_user,), totp=True)
    credentials = base64.b64encode(f"{user.username}:{PASSWORD}".encode()).decode()
    response = client.post("/api/v1/tokens", json={"totp": code}, headers={"Authorization": f"Basic {credentials}"})
    assert_error_shape(response, 401)
    assert login(client, user.username).location == "/login/totp"
    token = csrf_from(client.get("/login/totp").get_data(as_text=True))
    response = client.post("/login/totp", data={"code": code, "csrf_token": token})
    assert response.status_code == 200 and "/login" not in (response.location or "")


@pytest.mark.parametrize("raw", ["²", "99999999999", "1" * 30])
def test_a_superseded_policy_id_that_names_nothing_is_refused(client, factory, raw):
    commission = factory.org("commission")
    officer = factory.user(commission, (Role.commission_officer,), totp=True)
    sign_in(client, factory, officer)
    page = client.get(f"/vouchers/policies/new?supersedes={raw}")
    assert page.status_code == 200
    response = client.post(f"/vouchers/policies/new?supersedes={raw}", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "supersedes_id": raw, "year": "2026",
        "valid_from": "2026-01-01", "valid_to": "2026-12-31", "budget": "1000000", "rate_bp": "5000",
        "enterprise_annual_cap": "300000", "min_claim": "0", "eligible_modes": ["machine_time"],
        "provider_region_prefixes": "3201", "claimant_region_prefixes": "3201", "sme_max_staff": "500",
        "sme_max_revenue": "200000000", "sme_max_assets": "200000000"})
    assert response.status_code == 422
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("file_id", [str(MAX_ID + 1), "9" * 18])
def test_an_import_file_id_no_column_holds_is_not_found(client, factory, unit, file_id):
    sign_in(client, factory, unit.operator)
    token = csrf_from(client.get("/provider/instruments/import").get_data(as_text=True))
    response = client.post("/provider/instruments/import/confirm", data={"file_id": file_id, "csrf_token": token})
    assert response.status_code == 404
