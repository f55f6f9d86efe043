"""Unified social credit code (GB 32100-2015): the checksum, every kind of bad input, and how the registration
form and the API refuse a bad or duplicate code (422 / 409, never 500)."""

import threading
import time

import pytest
from flask import g
from flask_babel import force_locale
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from instrument_share.accounts import organizations
from instrument_share.accounts.models import Organization, User
from instrument_share.accounts.roles import Role
from instrument_share.core import uscc
from instrument_share.core.errors import Conflict, ValidationFailed
from instrument_share.db import db, make_engine
from instrument_share.mail.models import OutboxMessage

from ..factories import PASSWORD, Operator, csrf_from, login, post_form, valid_uscc

STANDARD_EXAMPLE = "91350100M000100Y43"
XIAOMI = "91110108551385082Q"
COUNTER_EXAMPLE = "91350100M000100Y4Z"
NOT_ALLOWED = "IOSVZ"


@pytest.fixture(autouse=True)
def fresh_request_state(app):
    """Give every request a fresh `g` and a fresh view of the database, as it has in production.

    The app fixture keeps one application context pushed for the whole test and Flask reuses it for the test
    client's requests, so `g` (the signed-in user, the CSRF token, the locale) would otherwise carry over from one
    request to the next.
    """

    def reset():
        vars(g).clear()
        db.session.rollback()

    app.before_request_funcs.setdefault(None, []).insert(0, reset)


def problem(raw: str) -> str:
    """The English message of the refusal."""
    with force_locale("en"), pytest.raises(uscc.USCCError) as caught:
        uscc.validate(raw)
    return str(caught.value)


# ---- the algorithm -------------------------------------------------------------------------------------------------


def test_the_alphabet_has_31_characters_without_i_o_s_v_z():
    assert len(uscc.ALPHABET) == 31
    assert not set(NOT_ALLOWED) & set(uscc.ALPHABET)
    assert tuple(pow(3, i, 31) for i in range(17)) == uscc.WEIGHTS


def test_the_standard_example_sums_to_1640_and_gets_check_character_3():
    body = STANDARD_EXAMPLE[:17]
    total = sum(uscc.ALPHABET.index(ch) * w for ch, w in zip(body, uscc.WEIGHTS, strict=True))
    assert total == 1640
    assert uscc.check_character(body) == "3"


@pytest.mark.parametrize("code", [STANDARD_EXAMPLE, XIAOMI])
def test_the_published_valid_examples_validate(app, code):
    assert uscc.validate(code) == code
    assert uscc.check_character(code[:17]) == code[17]


def test_surrounding_space_and_lowercase_are_normalised(app):
    assert uscc.validate(f"  {STANDARD_EXAMPLE.lower()}\t") == STANDARD_EXAMPLE
    assert uscc.validate(XIAOMI.lower()) == XIAOMI


def test_region_code_is_characters_3_to_8():
    assert uscc.region_code(STANDARD_EXAMPLE) == "350100"
    assert uscc.region_code(XIAOMI) == "110108"


# ---- every kind of bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "length"), [
    ("", 0), ("   ", 0), (None, 0), ("9", 1), (STANDARD_EXAMPLE[:17], 17), (STANDARD_EXAMPLE + "0", 19),
    ("9135 0100M000100Y43", 19), (STANDARD_EXAMPLE * 3, 54),
])
def test_wrong_length_is_named(app, raw, length):
    assert problem(raw) == f"must be 18 characters, got {length}"


@pytest.mark.parametrize("letter", list(NOT_ALLOWED))
@pytest.mark.parametrize("position", [1, 9, 17])
def test_letters_outside_the_alphabet_are_named_with_their_position(app, letter, position):
    raw = STANDARD_EXAMPLE[:position - 1] + letter + STANDARD_EXAMPLE[position:]
    message = problem(raw)
    assert f"character {letter} at position {position} is not allowed" in message


@pytest.mark.parametrize("letter", list(NOT_ALLOWED.lower()))
def test_lowercase_letters_outside_the_alphabet_are_refused_after_uppercasing(app, letter):
    raw = STANDARD_EXAMPLE[:8] + letter + STANDARD_EXAMPLE[9:]
    assert f"character {letter.upper()} at position 9 is not allowed" in problem(raw)


@pytest.mark.parametrize("char", ["-", "*", " ", "中", "９", "Ａ", "\x00"])
def test_punctuation_space_and_full_width_characters_are_refused(app, char):
    raw = STANDARD_EXAMPLE[:4] + char + STANDARD_EXAMPLE[5:]
    assert f"character {char} at position 5 is not allowed" in problem(raw)


def test_the_standards_counter_example_is_refused_naming_the_expected_check_character(app):
    assert problem(COUNTER_EXAMPLE) == "check character is wrong: expected 3, got Z"


@pytest.mark.parametrize("last", [c for c in uscc.ALPHABET if c != "3"])
def test_every_other_check_character_is_refused_with_the_expected_one(app, last):
    assert problem(STANDARD_EXAMPLE[:17] + last) == f"check character is wrong: expected 3, got {last}"


def test_a_swapped_pair_of_digits_is_caught_by_the_check_character(app):
    swapped = XIAOMI[:9] + XIAOMI[10] + XIAOMI[9] + XIAOMI[11:]
    assert swapped != XIAOMI
    assert "expected" in problem(swapped)


# ---- properties ----------------------------------------------------------------------------------------------------

bodies = st.text(alphabet=uscc.ALPHABET, min_size=17, max_size=17)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY
@given(body=bodies)
def test_any_body_with_its_computed_check_character_validates(app, body):
    code = body + uscc.check_character(body)
    assert uscc.validate(code) == code
    assert uscc.validate(code.lower()) == code


@PROPERTY
@given(body=bodies, last=st.sampled_from(uscc.ALPHABET + NOT_ALLOWED + "-#中"))
def test_any_other_last_character_fails_naming_the_expected_one(app, body, last):
    expected = uscc.check_character(body)
    if last == expected:
        return
    assert problem(body + last) == f"check character is wrong: expected {expected}, got {last}"


@PROPERTY
@given(raw=st.text(max_size=40))
def test_arbitrary_text_either_validates_to_a_correct_code_or_raises_uscc_error(app, raw):
    try:
        code = uscc.validate(raw)
    except uscc.USCCError as exc:
        assert str(exc)
    else:
        assert len(code) == 18
        assert set(code) <= set(uscc.ALPHABET)
        assert code[17] == uscc.check_character(code[:17])


# ---- the organisation service --------------------------------------------------------------------------------------


def _create(**kwargs):
    with db.transaction():
        return organizations.create_organization(actor=Operator(), **({"name": "南京测试研究院", "kind": "university"}
                                                                      | kwargs))


def test_the_service_refuses_a_bad_code_with_the_problem_in_fields_uscc(app):
    with force_locale("en"), pytest.raises(ValidationFailed) as caught:
        _create(uscc=COUNTER_EXAMPLE)
    assert caught.value.code == "invalid_uscc"
    assert caught.value.fields == {"uscc": "check character is wrong: expected 3, got Z"}
    assert "expected 3" in caught.value.message
    assert db.session.scalar(select(func.count()).select_from(Organization)) == 0


def test_the_service_stores_the_normalised_code_and_refuses_a_duplicate_in_any_spelling(app):
    org = _create(uscc=f" {STANDARD_EXAMPLE.lower()} ")
    assert org.uscc == STANDARD_EXAMPLE
    assert org.region_code == "350100"
    for spelling in (STANDARD_EXAMPLE, STANDARD_EXAMPLE.lower(), f"{STANDARD_EXAMPLE}\n"):
        with pytest.raises(Conflict) as caught:
            _create(uscc=spelling, name="另一个单位")
        assert caught.value.code == "duplicate_uscc"
        assert "uscc" in caught.value.fields
    assert db.session.scalar(select(func.count()).select_from(Organization)) == 1


# ---- through the registration form ---------------------------------------------------------------------------------


def english(client) -> None:
    with client.session_transaction() as session:
        session["lang"] = "en"


def register_form(client, code: str, username: str = "first-user"):
    data = {"name": "南京示例科技有限公司", "uscc": code, "staff_count": "40", "annual_revenue_yuan": "1000000",
            "total_assets_yuan": "2000000.50", "tech_sme_no": "", "username": username,
            "email": f"{username}@example.cn", "password": PASSWORD, "confirm": PASSWORD}
    return post_form(client, "/register", data, page="/register")


def _counts() -> tuple[int, int, int]:
    return tuple(db.session.scalar(select(func.count()).select_from(model))
                 for model in (Organization, User, OutboxMessage))


@pytest.mark.parametrize(("code", "named"), [
    ("9135010", "must be 18 characters, got 7"),
    ("91350100O000100Y43", "character O at position 9 is not allowed"),
    (COUNTER_EXAMPLE, "check character is wrong: expected 3, got Z"),
    ("91350100M000100Y44", "check character is wrong: expected 3, got 4"),
])
def test_the_registration_form_refuses_a_bad_code_with_422_next_to_the_field(client, code, named):
    english(client)
    response = register_form(client, code)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'<span class="field-error" id="uscc-error">{named}' in html
    assert _counts() == (0, 0, 0)


def test_the_registration_form_refuses_a_duplicate_code_with_409(client, factory):
    factory.org(uscc=XIAOMI)
    english(client)
    before = _counts()
    response = register_form(client, XIAOMI.lower())
    assert response.status_code == 409
    assert 'id="uscc-error">already registered' in response.get_data(as_text=True)
    assert _counts() == before
    assert db.session.scalar(select(User).where(User.username == "first-user")) is None


def test_the_registration_form_accepts_a_good_code_in_lowercase(client):
    response = register_form(client, STANDARD_EXAMPLE.lower())
    assert response.status_code == 200
    org = db.session.scalar(select(Organization))
    assert (org.uscc, org.status, org.region_code) == (STANDARD_EXAMPLE, "pending", "350100")
    assert (org.sme_staff_count, org.sme_annual_revenue_fen, org.sme_total_assets_fen) == (40, 100000000, 200000050)


def test_the_administrators_organisation_form_refuses_bad_and_duplicate_codes(app, client, factory):
    sysadmin = factory.user(org=factory.org("commission"), roles=(Role.system_admin,), totp=True)
    english(client)
    login(client, sysadmin.username)
    page = client.get("/login/totp")
    assert client.post("/login/totp", data={"code": factory.totp_code(sysadmin),
                                            "csrf_token": csrf_from(page.get_data(as_text=True))}).location == "/"
    before = _counts()

    def create(code):
        data = {"name": "南京某研究院", "uscc": code, "kind": "university", "region_code": "", "superior_id": ""}
        return post_form(client, "/admin/organizations/new", data, page="/admin/organizations/new")

    bad = create(COUNTER_EXAMPLE)
    assert bad.status_code == 422
    assert 'id="uscc-error">check character is wrong: expected 3, got Z' in bad.get_data(as_text=True)
    assert create(STANDARD_EXAMPLE).status_code == 302
    duplicate = create(STANDARD_EXAMPLE.lower())
    assert duplicate.status_code in (409, 422)
    assert 'id="uscc-error">already registered' in duplicate.get_data(as_text=True)
    assert _counts()[0] == before[0] + 1


# ---- through the API -----------------------------------------------------------------------------------------------


def register_api(client, code, username: str = "api-first-user"):
    return client.post("/api/v1/organizations", json={
        "name": "南京接口科技有限公司", "uscc": code, "kind": "enterprise",
        "first_user": {"username": username, "password": PASSWORD, "email": f"{username}@example.cn"}})


@pytest.mark.parametrize(("code", "named"), [
    ("", "must be 18 characters, got 0"),
    ("91350100M000100Y4", "must be 18 characters, got 17"),
    ("91350100M000100Y433", "must be 18 characters, got 19"),
    ("9I350100M000100Y43", "character I at position 2 is not allowed"),
    ("91350100M000100V43", "character V at position 16 is not allowed"),
    ("91350100m000100s43", "character S at position 16 is not allowed"),
    (COUNTER_EXAMPLE, "check character is wrong: expected 3, got Z"),
    ("91110108551385082R", "check character is wrong: expected Q, got R"),
])
def test_the_api_refuses_a_bad_code_with_422_and_fields_uscc(client, code, named):
    english(client)
    response = register_api(client, code)
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "invalid_uscc"
    assert body["fields"]["uscc"].startswith(named)
    assert named in body["message"]
    assert _counts() == (0, 0, 0)


@pytest.mark.parametrize("value", [None, 91350100, ["91350100M000100Y43"], {"code": STANDARD_EXAMPLE}, "9" * 5000])
def test_the_api_refuses_a_code_of_the_wrong_type_or_size_with_422(client, value):
    response = register_api(client, value)
    assert response.status_code == 422
    assert "uscc" in response.get_json()["fields"]


def test_the_api_refuses_a_duplicate_code_with_409(client, factory):
    factory.org(uscc=STANDARD_EXAMPLE)
    english(client)
    response = register_api(client, f" {STANDARD_EXAMPLE.lower()}")
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == "duplicate_uscc"
    assert body["fields"] == {"uscc": "already registered"}
    assert db.session.scalar(select(User).where(User.username == "api-first-user")) is None


def test_the_api_registers_a_good_code_as_a_pending_enterprise(client):
    response = register_api(client, XIAOMI)
    assert response.status_code == 201
    body = response.get_json()
    assert (body["uscc"], body["status"], body["kind"], body["region_code"]) == (XIAOMI, "pending", "enterprise",
                                                                                  "110108")


def test_without_a_token_only_an_enterprise_with_its_first_user_registers(client):
    response = client.post("/api/v1/organizations", json={"name": "某大学", "uscc": XIAOMI, "kind": "university"})
    assert response.status_code == 403
    assert response.get_json()["error"] == "self_registration_enterprise_only"
    response = client.post("/api/v1/organizations", json={"name": "某企业", "uscc": XIAOMI, "kind": "enterprise"})
    assert response.status_code == 403


# ---- a duplicate that arrives while another registration of the same code is still open ----------------------------


def _wait_until_blocked(url: str, holder) -> None:
    """PostgreSQL: until another session waits for a lock. SQLite: BEGIN IMMEDIATE makes the request wait anyway."""
    if not url.startswith("postgres"):
        time.sleep(0.3)
        return
    for _ in range(200):
        waiting = holder.engine.connect()
        try:
            if waiting.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                    "AND datname = current_database()")).scalar():
                return
        finally:
            waiting.close()
        time.sleep(0.05)
    raise AssertionError("the request never waited for the open registration")


@pytest.mark.parametrize("clash", ["uscc", "username"])
def test_a_concurrent_duplicate_is_refused_with_409_not_500(app, client, factory, clash):
    """Two app servers register the same code (or user name) at once: the loser gets 409, never 500."""
    url = app.config["DATABASE_URL"]
    other = factory.org(uscc=valid_uscc())
    engine = make_engine(url)
    holder = engine.connect().execution_options(write=True)
    holder.begin()
    try:
        if clash == "uscc":
            holder.execute(Organization.__table__.insert().values(
                name="先到的企业", uscc=STANDARD_EXAMPLE, kind="enterprise", region_code="350100", status="pending"))
            code, username = STANDARD_EXAMPLE, "racer"
        else:
            holder.execute(User.__table__.insert().values(
                username="racer", email="first@example.cn", password_hash="x", organization_id=other.id))
            code, username = XIAOMI, "racer"
        english(client)
        result = {}
        worker = threading.Thread(target=lambda: result.setdefault("response", register_api(client, code, username)))
        worker.start()
        _wait_until_blocked(url, holder)
        holder.commit()
        worker.join(timeout=30)
    finally:
        holder.close()
        engine.dispose()
    response = result["response"]
    assert response.status_code == 409, response.get_data(as_text=True)
    body = response.get_json()
    if clash == "uscc":
        assert body["error"] == "duplicate_uscc"
        assert "uscc" in body["fields"]
    else:
        assert body["error"] == "duplicate_username"
        assert "first_user.username" in body["fields"]
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Organization).where(Organization.uscc == code)) == (
        1 if clash == "uscc" else 0)
