"""The README's production bootstrap works as written: `flask orgs create` and three `flask users create` without
--email, the password on standard input. Nothing invents an address for those accounts: they have none, get no mail
and are not found by a password reset, and they sign in (with two-factor enrolment, which their roles require)."""

import re
import shlex
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select

from instrument_share.accounts.models import User
from instrument_share.db import db
from instrument_share.mail.models import OutboxMessage

from ..factories import PASSWORD, csrf_from, login, post_form, sign_in, signed_in

README = Path(__file__).resolve().parents[2] / "README.md"
PIPED_PASSWORD = """printf '%s\\n' "$PASSWORD" | """


def bootstrap_commands() -> list[tuple[list[str], bool]]:
    """The commands of the README's "First administrators in production" block: (flask arguments, reads password)."""
    text = README.read_text()
    block = re.search(r"First administrators in production:\n\n```sh\n(.*?)```", text, re.S)
    assert block, "the README lost its bootstrap block"
    commands = []
    for line in block.group(1).splitlines():
        piped = line.startswith(PIPED_PASSWORD)
        words = shlex.split(line.removeprefix(PIPED_PASSWORD))
        assert words[0] == "flask", line
        commands.append((words[1:], piped))
    return commands


def test_the_block_is_what_the_issue_reported():
    commands = bootstrap_commands()
    assert [args[:2] for args, _piped in commands] == [["orgs", "create"]] + [["users", "create"]] * 3
    assert all(piped and "--email" not in args for args, piped in commands[1:])


@pytest.fixture
def bootstrapped(app):
    runner = app.test_cli_runner()
    for args, piped in bootstrap_commands():
        result = runner.invoke(args=args, input=PASSWORD + "\n" if piped else None)
        assert result.exit_code == 0, (args, result.output)
    db.session.rollback()
    return {u.username: u for u in db.session.scalars(select(User).order_by(User.id))}


def test_the_readme_bootstrap_creates_the_three_administrators_without_addresses(bootstrapped):
    assert {name: (sorted(r.value for r in user.roles), user.email) for name, user in bootstrapped.items()} == {
        "sysadmin": (["system_admin"], None), "secadmin": (["security_admin"], None),
        "auditadmin": (["audit_admin"], None)}
    assert db.session.scalars(select(OutboxMessage)).all() == []


@pytest.mark.parametrize("username", ["sysadmin", "secadmin", "auditadmin"])
def test_each_bootstrapped_administrator_signs_in(app, bootstrapped, frozen_clock, username):
    client = app.test_client()
    response = login(client, username, PASSWORD)
    assert response.status_code == 302 and response.location == "/login/totp/enrol"  # the password was right
    html = client.get("/login/totp/enrol").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', html).group(1)
    response = client.post("/login/totp/enrol", data={"code": pyotp.TOTP(secret).at(frozen_clock.now),
                                                      "csrf_token": csrf_from(html)})
    assert response.status_code == 302 and not response.location.startswith("/login")
    assert signed_in(client)
    profile = client.get("/profile/").get_data(as_text=True)
    assert "None" not in profile and "无（不向此账号发送邮件）" in profile


def test_an_account_without_address_is_never_found_by_a_password_reset(app, client, bootstrapped):
    for guess in ("sysadmin", "sysadmin@113201000141167534.invalid", "None", ""):
        post_form(client, "/password/forgot", {"email": guess}, page="/password/forgot")
    db.session.rollback()
    assert db.session.scalars(select(OutboxMessage)).all() == []


def test_the_administration_pages_show_an_account_without_address(app, bootstrapped, factory):
    sysadmin = factory.user(org=db.session.get(User, bootstrapped["sysadmin"].id).organization,
                            roles=("system_admin",), totp=True)
    client = app.test_client()
    sign_in(client, factory, sysadmin)
    page = client.get(f"/admin/users/{bootstrapped['secadmin'].id}")
    assert page.status_code == 200 and "None" not in page.get_data(as_text=True)
    org_page = client.get(f"/admin/organizations/{sysadmin.organization_id}")
    assert org_page.status_code == 200 and "None" not in org_page.get_data(as_text=True)


def test_the_command_line_still_takes_an_address_and_checks_it(app, bootstrapped):
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["users", "create", "ops", "--org", "113201000141167534", "--role", "system_admin",
                             "--email", "ops@kjj.nanjing.gov.cn"], input=PASSWORD + "\n")
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(args=["users", "create", "ops2", "--org", "113201000141167534", "--role", "system_admin",
                              "--email", "not an address"], input=PASSWORD + "\n")
    assert bad.exit_code == 1
    db.session.rollback()
    assert db.session.scalar(select(User.email).where(User.username == "ops")) == "ops@kjj.nanjing.gov.cn"
    assert db.session.scalar(select(User.id).where(User.username == "ops2")) is None
