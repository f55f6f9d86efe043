"""A refusal answers the same status on a page as in the API (web/actions.run_action reads DomainError.status):
409 for a conflict with the current state, 422 for a bad value; and a page still shows it next to its field."""

import pytest

from instrument_share.accounts.roles import Role

from .._pages import defence_setup, field_errors, provider, reset_each_request, sign_in, submit, text
from ..catalogue.test_provider_pages import create


@pytest.fixture(autouse=True)
def fresh_request_state(app):
    reset_each_request(app)


def test_resuming_a_published_listing_is_a_conflict_on_the_page_and_in_the_api(client, factory):
    _org, operator = provider(factory)
    sign_in(client, factory, operator)
    instrument_id = create(client)
    manage = f"/provider/instruments/{instrument_id}"
    assert submit(client, f"{manage}/publish", page=manage).status_code == 302

    page = submit(client, f"{manage}/resume", page=manage)
    api = factory.app.test_client().post(f"/api/v1/instruments/{instrument_id}/resume",
                                         headers=factory.bearer(operator))
    assert page.status_code == api.status_code == 409
    assert api.get_json()["error"] == "invalid_state"
    assert "flash-error" in text(page)


def test_clearance_refusals_answer_alike_and_the_page_names_the_field(client, factory):
    setup = defence_setup(factory)
    operator, unit = setup["operator"], setup["unit"]
    sign_in(client, factory, operator)
    api = factory.app.test_client()
    path, headers = f"/api/v1/organizations/{unit.id}/clearances", factory.bearer(operator)
    unverified = factory.org("enterprise", verified=False)
    cleared = factory.org("enterprise")
    assert api.post(path, headers=headers, json={"organization_id": cleared.id,
                                                 "agreement_version": "v1"}).status_code == 201

    # A bad value: 422, and on the page next to the field the form has (the USCC, where the service says id).
    page = submit(client, "/clearances", {"organization_uscc": unverified.uscc, "agreement_version": "v1"})
    answer = api.post(path, headers=headers, json={"organization_id": unverified.id, "agreement_version": "v1"})
    assert page.status_code == answer.status_code == 422
    assert "organization_id" in answer.get_json()["fields"] and field_errors(text(page))

    # Already cleared: a conflict with the current state, 409 on both.
    page = submit(client, "/clearances", {"organization_uscc": cleared.uscc, "agreement_version": "v2"})
    answer = api.post(path, headers=headers, json={"organization_id": cleared.id, "agreement_version": "v2"})
    assert page.status_code == answer.status_code == 409
    assert answer.get_json()["error"] == "already_cleared" and "flash-error" in text(page)


def test_a_refused_button_action_goes_back_to_its_page_with_the_reason(client, factory):
    """Verifying an organisation twice: the API answers 409; the button goes back to the page it is on and shows
    the reason there (post/redirect/get, kept deliberately for bare buttons)."""
    admin = factory.user(factory.org("commission"), roles=(Role.system_admin,), totp=True)
    sign_in(client, factory, admin)
    org = factory.org("enterprise")  # already verified
    page_path = f"/admin/organizations/{org.id}"
    page = submit(client, f"{page_path}/verify", page=page_path)
    api = factory.app.test_client().post(f"/api/v1/organizations/{org.id}/verify", headers=factory.bearer(admin))
    assert api.status_code == 409
    assert page.status_code == 302 and page.location.endswith(page_path)
    shown = text(client.get(page_path))
    assert "flash-error" in shown and api.get_json()["message"] in shown
