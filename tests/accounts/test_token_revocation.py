"""API tokens end with the credentials or privileges they were made under (docs/api.md v1.1): changing or resetting the
password, disabling the account and removing a role revoke every token of the user, through the real pages and API,
each audited. The profile page lists the person's own tokens and revokes them one by one."""

import json
import re

import pytest
from sqlalchemy import select

from instrument_share.accounts.models import ApiToken, User
from instrument_share.accounts.roles import Role
from instrument_share.audit.models import AuditEntry
from instrument_share.db import db

from ..factories import PASSWORD, csrf_from, post_form, sign_in

NEW_PASSWORD = "a brand new passphrase 2026"


def me(app, secret: str) -> int:
    """The status of GET /api/v1/me with this token, from a client without any session."""
    return app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code


def ended(user: User) -> list[dict]:
    """The access.ended audit entries of the user."""
    db.session.rollback()
    rows = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "access.ended",
                                                       AuditEntry.object_id == str(user.id)).order_by(AuditEntry.seq))
    return [json.loads(row.details) | {"actor_id": row.actor_id} for row in rows]


def admin(factory, role: Role) -> User:
    return factory.user(org=factory.org("commission"), roles=(role,), totp=True)


@pytest.fixture
def holder(factory):
    """A university operator with two live tokens (and another user's token that must survive)."""
    user = factory.user(org=factory.org("university"), roles=(Role.provider_operator, Role.sme_user))
    bystander = factory.user(roles=(Role.sme_user,))
    return user, [factory.token(user), factory.token(user)], factory.token(bystander)


def assert_revoked(app, user, secrets, bystander, *, reason: str, actor: User) -> None:
    assert [me(app, secret) for secret in secrets] == [401, 401]
    assert me(app, bystander) == 200
    assert ended(user) == [{"reason": reason, "tokens_revoked": 2, "actor_id": actor.id}]


# ---- the four triggers ---------------------------------------------------------------------------------------------


def test_changing_the_password_on_the_profile_page_revokes_the_tokens(app, client, factory, holder):
    user, secrets, bystander = holder
    assert [me(app, secret) for secret in secrets] == [200, 200]
    sign_in(client, factory, user)
    response = post_form(client, "/profile/password", {"pw-current_password": PASSWORD, "pw-new_password": NEW_PASSWORD,
                                                       "pw-confirm": NEW_PASSWORD}, page="/profile/")
    assert response.status_code == 302
    assert_revoked(app, user, secrets, bystander, reason="password_changed", actor=user)
    profile = client.get("/profile/")  # the session that changed it goes on, and lists no token any more
    assert profile.status_code == 200 and "暂无有效令牌。" in profile.get_data(as_text=True)


def test_resetting_the_password_by_mailed_link_revokes_the_tokens(app, client, factory, holder):
    user, secrets, bystander = holder
    post_form(client, "/password/forgot", {"email": user.email}, page="/password/forgot")
    link = factory.link_from_mail(user.email, "password/reset/")
    page = client.get(link)
    response = client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
                                       "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 302
    assert_revoked(app, user, secrets, bystander, reason="password_reset", actor=user)


def test_disabling_the_account_on_the_admin_page_revokes_the_tokens(app, client, factory, holder):
    user, secrets, bystander = holder
    sysadmin = admin(factory, Role.system_admin)
    sign_in(client, factory, sysadmin)
    page = f"/admin/users/{user.id}"
    assert post_form(client, f"{page}/disable", page=page).status_code == 302
    assert_revoked(app, user, secrets, bystander, reason="disabled", actor=sysadmin)
    # Enabling it again revives none of them.
    assert post_form(client, f"{page}/enable", page=page).status_code == 302
    assert [me(app, secret) for secret in secrets] == [401, 401]


def test_disabling_the_account_through_the_api_revokes_the_tokens(app, client, factory, holder):
    user, secrets, bystander = holder
    sysadmin = admin(factory, Role.system_admin)
    response = client.post(f"/api/v1/users/{user.id}/disable", json={"reason": "离职"},
                           headers=factory.bearer(sysadmin))
    assert response.status_code == 200
    assert_revoked(app, user, secrets, bystander, reason="disabled", actor=sysadmin)


def test_removing_a_role_on_the_admin_page_revokes_the_tokens(app, client, factory, holder):
    user, secrets, bystander = holder
    security = admin(factory, Role.security_admin)
    sign_in(client, factory, security)
    page = f"/admin/users/{user.id}"
    assert post_form(client, f"{page}/roles/sme_user/remove", page=page).status_code == 302
    assert db.session.get(User, user.id).roles == {Role.provider_operator}
    assert_revoked(app, user, secrets, bystander, reason="role_removed", actor=security)


@pytest.mark.parametrize("remover", ["security_admin", "manager"])
def test_removing_a_role_through_the_api_revokes_the_tokens(app, client, factory, holder, remover):
    user, secrets, bystander = holder
    actor = admin(factory, Role.security_admin) if remover == "security_admin" else factory.user(
        org=db.session.get(User, user.id).organization, manager=True)
    response = client.delete(f"/api/v1/users/{user.id}/roles/provider_operator", headers=factory.bearer(actor))
    assert response.status_code == 200 and response.get_json()["roles"] == ["sme_user"]
    assert_revoked(app, user, secrets, bystander, reason="role_removed", actor=actor)


def test_a_refused_change_revokes_nothing(app, client, factory, holder):
    user, secrets, _bystander = holder
    sign_in(client, factory, user)
    wrong = post_form(client, "/profile/password", {"pw-current_password": "not it", "pw-new_password": NEW_PASSWORD,
                                                    "pw-confirm": NEW_PASSWORD}, page="/profile/")
    assert wrong.status_code == 422
    assert [me(app, secret) for secret in secrets] == [200, 200]
    assert ended(user) == []


# ---- the profile page ----------------------------------------------------------------------------------------------


def token_row(html: str, token_id: int) -> str:
    match = re.search(rf'<tr id="token-{token_id}">(.*?)</tr>', html, re.S)
    assert match, html
    return match.group(1)


def test_the_profile_page_lists_name_prefix_created_expires_and_last_use(app, client, factory, frozen_clock):
    user = factory.user(roles=(Role.sme_user,))
    used, unused = factory.token(user), factory.token(user)
    frozen_clock.move(hours=2)
    assert me(app, used) == 200
    sign_in(client, factory, user)
    html = client.get("/profile/").get_data(as_text=True)
    tokens = {t.prefix: t for t in db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id))}
    for secret, last_use in ((used, "2026-12-01 12:00"), (unused, "从未使用")):
        token = tokens[secret[:10]]
        row = token_row(html, token.id)
        assert "<td>test</td>" in row and f"<code>{token.prefix}…</code>" in row
        assert "<td>2026-12-01 10:00</td>" in row  # created, in Beijing time
        assert "<td>2027-03-01 10:00</td>" in row  # expires 90 days later
        assert f"<td>{last_use}</td>" in row
    # The secret itself is never shown again.
    assert used not in html and unused not in html


def test_the_last_use_is_kept_to_the_minute_without_a_write_per_call(app, factory, frozen_clock):
    user = factory.user(roles=(Role.sme_user,))
    secret = factory.token(user)

    def last_used():
        db.session.rollback()
        return db.session.scalar(select(ApiToken.last_used_at).where(ApiToken.user_id == user.id))

    assert me(app, secret) == 200 and last_used() == frozen_clock.now
    first = frozen_clock.now
    frozen_clock.move(seconds=59)
    assert me(app, secret) == 200 and last_used() == first
    frozen_clock.move(seconds=1)
    assert me(app, secret) == 200 and last_used() == frozen_clock.now


def test_a_token_is_revoked_from_the_profile_page_with_the_csrf_token(app, client, factory):
    user = factory.user(roles=(Role.sme_user,))
    keep, revoke = factory.token(user), factory.token(user)
    token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.prefix == revoke[:10]))
    sign_in(client, factory, user)

    forged = client.post(f"/profile/tokens/{token_id}/revoke")  # without the form's CSRF token
    assert forged.status_code == 400
    assert me(app, revoke) == 200

    response = post_form(client, f"/profile/tokens/{token_id}/revoke", page="/profile/")
    assert response.status_code == 302 and response.location == "/profile/"
    assert me(app, revoke) == 401 and me(app, keep) == 200
    assert f'id="token-{token_id}"' not in client.get("/profile/").get_data(as_text=True)
    db.session.rollback()
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "token.revoked"))
    assert (entry.actor_id, entry.object_type, entry.object_id) == (user.id, "api_token", str(token_id))


def test_nobody_revokes_someone_elses_token_from_the_profile_page(app, client, factory):
    owner, other = factory.user(roles=(Role.sme_user,)), factory.user(roles=(Role.sme_user,))
    secret = factory.token(owner)
    token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.prefix == secret[:10]))
    sign_in(client, factory, other)
    response = post_form(client, f"/profile/tokens/{token_id}/revoke", page="/profile/")
    assert response.status_code == 404
    assert me(app, secret) == 200
