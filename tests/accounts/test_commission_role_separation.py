"""One person never both approves and pays a voucher claim: commission_auditor and commission_officer are never held
by one account (docs/api.md v1.1, 409 role_conflict), however the role would arrive: the API, the administration pages,
the organisation's manager, or `flask users create --role a --role b`. The demo data holds no such account."""

import pytest
from sqlalchemy import func, select

from instrument_share import demo
from instrument_share.accounts.models import RoleGrant, User
from instrument_share.accounts.roles import COMMISSION_ROLES, Role
from instrument_share.db import db

from ..factories import PASSWORD, english, post_form, sign_in

AUDITOR, OFFICER = Role.commission_auditor.value, Role.commission_officer.value


def roles_of(user: User) -> set[str]:
    db.session.rollback()
    return set(db.session.scalars(select(RoleGrant.role).where(RoleGrant.user_id == user.id)))


@pytest.fixture
def commission(factory):
    return factory.org("commission")


@pytest.fixture
def security(factory, commission):
    return factory.user(commission, (Role.security_admin,), totp=True)


@pytest.mark.parametrize(("held", "wanted"), [(OFFICER, AUDITOR), (AUDITOR, OFFICER)])
def test_granting_one_commission_role_to_a_holder_of_the_other_is_409(client, factory, commission, security, held,
                                                                      wanted):
    holder = factory.user(commission, (held,), totp=True)
    response = client.post(f"/api/v1/users/{holder.id}/roles", json={"roles": [wanted]},
                           headers=factory.bearer(security))
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == "role_conflict" and "roles" in body["fields"]
    assert roles_of(holder) == {held}


def test_both_commission_roles_at_once_are_409(client, factory, commission, security):
    newcomer = factory.user(commission)
    response = client.post(f"/api/v1/users/{newcomer.id}/roles", json={"roles": [AUDITOR, OFFICER]},
                           headers=factory.bearer(security))
    assert response.status_code == 409 and response.get_json()["error"] == "role_conflict"
    assert roles_of(newcomer) == set()


def test_the_commissions_manager_cannot_combine_them_either(client, factory, commission):
    manager = factory.user(commission, (OFFICER,), totp=True, manager=True)
    auditor = factory.user(commission, (AUDITOR,), totp=True)
    response = client.post(f"/api/v1/users/{auditor.id}/roles", json={"roles": [OFFICER]},
                           headers=factory.bearer(manager))
    assert response.status_code == 409 and response.get_json()["error"] == "role_conflict"
    assert roles_of(auditor) == {AUDITOR}


def test_each_role_alone_is_still_granted(client, factory, commission, security):
    for role in (AUDITOR, OFFICER):
        user = factory.user(commission)
        response = client.post(f"/api/v1/users/{user.id}/roles", json={"roles": [role]},
                               headers=factory.bearer(security))
        assert response.status_code == 200 and roles_of(user) == {role}


def test_the_administration_page_refuses_the_combination_with_the_reason(app, client, factory, commission,
                                                                         security):
    officer = factory.user(commission, (OFFICER,), totp=True)
    sign_in(client, factory, security)
    english(client)
    page = f"/admin/users/{officer.id}"
    response = post_form(client, f"{page}/roles", {"roles": [AUDITOR]}, page=page, follow_redirects=True)
    assert response.status_code == 200
    assert "never held by one account" in response.get_data(as_text=True)
    assert roles_of(officer) == {OFFICER}


def test_the_command_line_refuses_the_combination_and_creates_nobody(app, factory, commission):
    result = app.test_cli_runner().invoke(args=["users", "create", "payer", "--org", commission.uscc,
                                                "--role", AUDITOR, "--role", OFFICER], input=PASSWORD + "\n")
    assert result.exit_code == 1
    assert "同一账号不得同时担任科技主管部门审核员和科技主管部门经办员" in result.output
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(User).where(User.username == "payer")) == 0


def test_the_command_line_still_creates_a_single_commission_role(app, factory, commission):
    result = app.test_cli_runner().invoke(args=["users", "create", "payer", "--org", commission.uscc,
                                                "--role", OFFICER], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    db.session.rollback()
    user = db.session.scalar(select(User).where(User.username == "payer"))
    assert user.roles == {Role.commission_officer}


def test_no_demo_account_holds_both_commission_roles():
    assert [name for name, _org, roles, _manager in demo.USERS if set(roles) >= COMMISSION_ROLES] == []
