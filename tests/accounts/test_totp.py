"""Two-factor login (TOTP, RFC 6238): enrolment from the profile, the code step at sign-in, wrong and replayed codes,
forced enrolment for the roles that require it, and the API token endpoint."""

import base64
import re
from urllib.parse import unquote

import pyotp
import pytest
import segno
from sqlalchemy import func, select

from instrument_share.accounts import secrets
from instrument_share.accounts.models import ApiToken, LoginFailure, LoginLock, User
from instrument_share.accounts.roles import TOTP_REQUIRED_ROLES, Role
from instrument_share.audit.models import AuditEntry
from instrument_share.core.clock import now_utc
from instrument_share.db import db

from ..factories import PASSWORD, csrf_from, english, login, post_form, signed_in

REQUIRED = [("commission", Role.system_admin), ("commission", Role.security_admin), ("key_lab", Role.audit_admin),
            ("defence_unit", Role.defence_approver), ("authority", Role.defence_approver),
            ("commission", Role.commission_auditor), ("commission", Role.commission_officer)]


def fresh(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def failures(user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(LoginFailure).where(LoginFailure.user_id == user.id))


def actions(user: User) -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "user",
                                                                   AuditEntry.object_id == str(user.id))
                                   .order_by(AuditEntry.seq)))


def submit_code(client, code: str, path: str = "/login/totp"):
    page = client.get(path)
    assert page.status_code == 200, page.location
    return client.post(path, data={"code": code, "csrf_token": csrf_from(page.get_data(as_text=True))})


def wrong_code(secret: str, at) -> str:
    """A well-formed code that is valid for none of the accepted time steps."""
    totp = pyotp.TOTP(secret)
    step = int(at.timestamp()) // 30
    valid = {totp.generate_otp(s) for s in (step - 1, step, step + 1)}
    return next(c for c in ("000000", "111111", "123456", "999999", "424242") if c not in valid)


def enrolment_page(client, path: str) -> tuple[str, str]:
    """The QR data URI and the hand-entry key shown on an enrolment page."""
    html = client.get(path).get_data(as_text=True)
    qr = re.search(r'<img class="qr" src="([^"]+)"', html)
    key = re.search(r'<code class="secret">([A-Z2-7]+)</code>', html)
    assert qr and key, html
    return qr.group(1).replace("&amp;", "&"), key.group(1)


def assert_qr_for(qr: str, secret: str, username: str) -> None:
    assert qr.startswith("data:image/svg+xml")
    assert "<svg" in unquote(qr)
    # The QR code encodes the otpauth:// provisioning URI for this key and account.
    uri = secrets.totp_uri(secret, username)
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
    assert qr == segno.make(uri, error="m").svg_data_uri(scale=5)


# ---- enrolment from the profile ------------------------------------------------------------------------------------


def test_enrolment_from_the_profile_page(client, factory, frozen_clock, app):
    user = factory.user(roles=(Role.sme_user,))
    assert login(client, user.username).location == "/"
    other_session = app.test_client()
    assert login(other_session, user.username).location == "/"
    assert 'href="/profile/totp"' in client.get("/profile/").get_data(as_text=True)

    qr, secret = enrolment_page(client, "/profile/totp")
    assert_qr_for(qr, secret, user.username)
    assert enrolment_page(client, "/profile/totp")[1] == secret  # the key stays until enrolment succeeds

    english(client)
    refused = submit_code(client, wrong_code(secret, frozen_clock.now), "/profile/totp")
    assert refused.status_code in (200, 422)
    assert "The code does not match" in refused.get_data(as_text=True)
    assert fresh(user).totp_enabled_at is None

    response = submit_code(client, pyotp.TOTP(secret).at(frozen_clock.now), "/profile/totp")
    assert response.status_code == 302 and response.location == "/profile/"
    user = fresh(user)
    assert user.totp_secret == secret and user.totp_enabled_at == frozen_clock.now
    assert "totp.enabled" in actions(user)
    assert signed_in(client)  # this session goes on …
    assert not signed_in(other_session)  # … every other one ends with the second-factor change

    # From now on the password alone is not enough.
    client2 = app.test_client()
    assert login(client2, user.username).location == "/login/totp"
    assert not signed_in(client2)


def test_an_optional_second_factor_can_be_turned_off_with_the_password(client, factory, frozen_clock):
    user = factory.user(roles=(Role.sme_user,), totp=True)
    login(client, user.username)
    assert submit_code(client, factory.totp_code(user)).status_code == 302
    refused = post_form(client, "/profile/totp/disable", {"off-password": "not my password"}, page="/profile/")
    assert refused.status_code == 422 and fresh(user).has_totp
    response = post_form(client, "/profile/totp/disable", {"off-password": PASSWORD}, page="/profile/")
    assert response.status_code == 302
    assert not fresh(user).has_totp and fresh(user).totp_secret is None
    assert "totp.disabled" in actions(user)


@pytest.mark.parametrize(("kind", "role"), REQUIRED[:1] + REQUIRED[3:4])
def test_a_required_second_factor_cannot_be_turned_off(client, factory, frozen_clock, kind, role):
    user = factory.user(org=factory.org(kind), roles=(role,), totp=True)
    login(client, user.username)
    assert submit_code(client, factory.totp_code(user)).status_code == 302
    assert 'action="/profile/totp/disable"' not in client.get("/profile/").get_data(as_text=True)
    response = post_form(client, "/profile/totp/disable", {"off-password": PASSWORD}, page="/profile/")
    assert response.status_code in (403, 422)
    assert fresh(user).has_totp


# ---- the code step at sign-in --------------------------------------------------------------------------------------


def test_sign_in_asks_for_the_code_after_the_password(client, factory, frozen_clock):
    user = factory.user(roles=(Role.sme_user,), totp=True)
    response = login(client, user.username)
    assert response.status_code == 302 and response.location == "/login/totp"
    assert not signed_in(client)  # the password alone signs nobody in
    response = submit_code(client, factory.totp_code(user))
    assert response.status_code == 302 and response.location == "/"
    assert signed_in(client)
    success = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "login.success"))
    assert success.actor_id == user.id and '"password+totp"' in success.details


def test_the_code_step_keeps_the_next_target(client, factory, frozen_clock):
    user = factory.user(totp=True)
    page = client.get("/login?next=/profile/")
    response = client.post("/login?next=/profile/", data={"username": user.username, "password": PASSWORD,
                                                          "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.location == "/login/totp"
    assert submit_code(client, factory.totp_code(user)).location == "/profile/"


def test_a_wrong_code_is_refused_and_counts_toward_the_lockout(client, factory, frozen_clock, app):
    user = factory.user(totp=True)
    assert login(client, user.username).location == "/login/totp"
    bad = wrong_code(user.totp_secret, frozen_clock.now)
    response = submit_code(client, bad)
    assert response.status_code == 200
    assert not signed_in(client)
    assert failures(user) == 1
    failure = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "login.failure"))
    assert failure.actor_id == user.id and '"bad_totp"' in failure.details

    threshold = app.config["LOCKOUT_THRESHOLD"]
    for _ in range(threshold - 2):
        assert submit_code(client, bad).status_code == 200
    assert pair_locked(user) is False
    wrong_page = submit_code(client, bad)  # the threshold is reached: this address is locked out of the account
    assert pair_locked(user) is True
    assert "login.pair_locked" in actions(user)

    # The code step answers a lock exactly like a wrong code, and refuses even the right code meanwhile.
    right_page = submit_code(client, factory.totp_code(user))
    assert right_page.status_code == wrong_page.status_code == 200
    assert flash_of(right_page) == flash_of(wrong_page)
    assert not signed_in(client)

    # So do the password step and the right password.
    locked = login(client, user.username)
    assert locked.status_code == 200 and flash_of(locked) == flash_of(wrong_page)
    assert not signed_in(client)


def flash_of(response) -> str:
    match = re.search(r'<div class="flash flash-error"[^>]*>(.*?)</div>', response.get_data(as_text=True), re.S)
    assert match, response.get_data(as_text=True)
    return match.group(1).strip()


def pair_locked(user: User, address: str = "127.0.0.1") -> bool:
    db.session.expire_all()
    lock = db.session.get(LoginLock, (user.id, address))
    return lock is not None and lock.locked_until > now_utc()


def test_a_code_cannot_be_replayed(client, factory, frozen_clock, app):
    user = factory.user(totp=True)
    code = factory.totp_code(user)
    login(client, user.username)
    assert submit_code(client, code).location == "/"
    post_form(client, "/logout", page="/profile/")
    assert not signed_in(client)

    # Same code, same 30-second window, another sign-in (for example by someone who watched it being typed).
    thief = app.test_client()
    assert login(thief, user.username).location == "/login/totp"
    assert submit_code(thief, code).status_code == 200
    assert not signed_in(thief)
    assert failures(user) == 1

    frozen_clock.move(seconds=30)
    assert submit_code(thief, factory.totp_code(user)).location == "/"


def test_an_earlier_code_is_refused_once_a_later_one_was_used(client, factory, frozen_clock):
    user = factory.user(totp=True)
    earlier = pyotp.TOTP(user.totp_secret).at(frozen_clock.now)
    frozen_clock.move(seconds=30)
    login(client, user.username)
    assert submit_code(client, factory.totp_code(user)).location == "/"
    post_form(client, "/logout", page="/profile/")
    login(client, user.username)
    assert submit_code(client, earlier).status_code == 200  # still inside the drift window, but older
    assert not signed_in(client)


def test_the_code_step_times_out_without_a_password(client, factory):
    user = factory.user(totp=True)
    assert client.get("/login/totp").location.startswith("/login")  # nobody gave a password
    login(client, user.username)
    with client.session_transaction() as session:
        session["pending_login"] = session["pending_login"] | {"at": session["pending_login"]["at"] - 301}
    assert client.get("/login/totp").location.startswith("/login")


# ---- forced enrolment ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "role"), REQUIRED)
def test_roles_that_require_two_factor_login_are_enrolled_at_first_sign_in(client, factory, frozen_clock, kind,
                                                                            role):
    assert role in TOTP_REQUIRED_ROLES
    user = factory.user(org=factory.org(kind), roles=(role,))
    response = login(client, user.username)
    assert response.status_code == 302 and response.location == "/login/totp/enrol"
    assert not signed_in(client)

    english(client)
    page = client.get("/login/totp/enrol").get_data(as_text=True)
    assert "Your roles require two-factor login" in page
    qr, secret = enrolment_page(client, "/login/totp/enrol")
    assert_qr_for(qr, secret, user.username)

    refused = submit_code(client, wrong_code(secret, frozen_clock.now), "/login/totp/enrol")
    assert refused.status_code in (200, 422)
    assert not signed_in(client) and fresh(user).totp_enabled_at is None

    response = submit_code(client, pyotp.TOTP(secret).at(frozen_clock.now), "/login/totp/enrol")
    assert response.status_code == 302 and response.location == "/"
    assert signed_in(client)
    user = fresh(user)
    assert user.totp_secret == secret and user.has_totp
    assert "totp.enabled" in actions(user)
    success = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "login.success"))
    assert '"password+totp_enrolment"' in success.details


def test_an_unenrolled_account_cannot_skip_enrolment_through_the_code_step(client, factory, frozen_clock):
    user = factory.user(org=factory.org("commission"), roles=(Role.system_admin,))
    assert login(client, user.username).location == "/login/totp/enrol"
    step = client.get("/login/totp")
    assert step.status_code == 302 and step.location == "/login/totp/enrol"
    token = csrf_from(client.get("/login/totp/enrol").get_data(as_text=True))
    for code in ("000000", "123456"):
        response = client.post("/login/totp", data={"code": code, "csrf_token": token})
        assert response.status_code == 302 and response.location == "/login/totp/enrol"
    assert not signed_in(client)
    assert fresh(user).totp_enabled_at is None


def test_after_enrolment_the_next_sign_in_asks_for_the_code(client, factory, frozen_clock, app):
    user = factory.user(org=factory.org("commission"), roles=(Role.audit_admin,))
    login(client, user.username)
    _qr, secret = enrolment_page(client, "/login/totp/enrol")
    assert submit_code(client, pyotp.TOTP(secret).at(frozen_clock.now), "/login/totp/enrol").location == "/"
    frozen_clock.move(seconds=30)
    other = app.test_client()
    assert login(other, user.username).location == "/login/totp"
    assert submit_code(other, pyotp.TOTP(secret).at(frozen_clock.now)).location == "/"


# ---- API tokens ----------------------------------------------------------------------------------------------------


def basic(user: User, password: str = PASSWORD) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user.username}:{password}".encode()).decode()}


def tokens_of(user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.user_id == user.id))


def test_a_token_for_an_account_without_two_factor_login(client, factory):
    user = factory.user(roles=(Role.sme_user,))
    response = client.post("/api/v1/tokens", headers=basic(user), json={"name": "script"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["token"].startswith("isk_") and body["expires_at"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.get_json()["username"] == user.username


def test_a_token_needs_the_code_when_two_factor_login_is_on(client, factory, frozen_clock):
    user = factory.user(totp=True)
    missing = client.post("/api/v1/tokens", headers=basic(user))
    assert missing.status_code == 401 and missing.get_json()["error"] == "totp_required"
    wrong = client.post("/api/v1/tokens", headers=basic(user),
                        json={"totp": wrong_code(user.totp_secret, frozen_clock.now)})
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "invalid_credentials"
    assert failures(user) == 1
    assert tokens_of(user) == 0

    code = factory.totp_code(user)
    created = client.post("/api/v1/tokens", headers=basic(user), json={"totp": code})
    assert created.status_code == 201
    assert failures(user) == 0  # a full sign-in clears the counter

    replay = client.post("/api/v1/tokens", headers=basic(user), json={"totp": code})
    assert replay.status_code == 401 and replay.get_json()["error"] == "invalid_credentials"
    assert tokens_of(user) == 1


def test_wrong_api_codes_lock_the_address_out_of_the_account(client, factory, frozen_clock, app):
    user = factory.user(totp=True)
    bad = wrong_code(user.totp_secret, frozen_clock.now)
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        client.post("/api/v1/tokens", headers=basic(user), json={"totp": bad})
    locked = client.post("/api/v1/tokens", headers=basic(user), json={"totp": factory.totp_code(user)})
    assert locked.status_code == 401 and locked.get_json()["error"] == "invalid_credentials"
    assert tokens_of(user) == 0


@pytest.mark.parametrize(("kind", "role"), REQUIRED)
def test_a_token_is_refused_until_a_required_second_factor_is_enrolled(client, factory, kind, role):
    user = factory.user(org=factory.org(kind), roles=(role,))
    response = client.post("/api/v1/tokens", headers=basic(user), json={"totp": "123456"})
    assert response.status_code == 403
    assert response.get_json()["error"] == "totp_enrolment_required"
    assert client.post("/api/v1/tokens", headers=basic(user)).get_json()["error"] == "totp_enrolment_required"
    assert tokens_of(user) == 0


def test_a_required_second_factor_once_enrolled_gives_a_token_with_the_code(client, factory, frozen_clock):
    user = factory.user(org=factory.org("commission"), roles=(Role.commission_auditor,), totp=True)
    response = client.post("/api/v1/tokens", headers=basic(user), json={"totp": factory.totp_code(user)})
    assert response.status_code == 201


@pytest.mark.parametrize("body", [{"totp": 123456}, {"totp": ["123456"]}, {"code": "123456"}])
def test_a_malformed_token_request_is_refused_with_422(client, factory, body):
    user = factory.user(totp=True)
    response = client.post("/api/v1/tokens", headers=basic(user), json=body)
    assert response.status_code == 422
    assert tokens_of(user) == 0


def test_a_token_request_with_a_wrong_password_is_refused(client, factory, frozen_clock):
    user = factory.user(totp=True)
    response = client.post("/api/v1/tokens", headers=basic(user, "wrong password"),
                           json={"totp": factory.totp_code(user)})
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_credentials"
    assert tokens_of(user) == 0


def test_an_enrolled_account_cannot_replace_its_second_factor_during_sign_in(client, factory, frozen_clock):
    """Someone who knows only the password must not enrol a new authenticator instead of giving the code."""
    user = factory.user(totp=True)
    original = user.totp_secret
    assert login(client, user.username).location == "/login/totp"
    page = client.get("/login/totp/enrol")
    assert page.status_code == 302 and page.location == "/login/totp"
    attacker_secret = pyotp.random_base32()
    with client.session_transaction() as session:  # as if the enrolment page had offered the attacker's key
        session["pending_login"] = session["pending_login"] | {"secret": attacker_secret}
    token = csrf_from(client.get("/login/totp").get_data(as_text=True))
    response = client.post("/login/totp/enrol", data={"code": pyotp.TOTP(attacker_secret).at(frozen_clock.now),
                                                      "csrf_token": token})
    assert response.status_code == 302 and response.location == "/login/totp"
    assert not signed_in(client)
    assert fresh(user).totp_secret == original


def test_the_service_refuses_any_code_for_an_account_without_a_key(app, factory):
    from instrument_share.accounts import auth

    user = factory.user(org=factory.org("commission"), roles=(Role.security_admin,))
    with db.transaction():
        assert auth.check_totp(db.session.merge(user), "123456", remote_addr="127.0.0.1") is False
