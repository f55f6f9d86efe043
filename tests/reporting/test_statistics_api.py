"""GET /api/v1/statistics: the contract's fields, public city level, unit figures for operators and commission."""

from datetime import date

from ..catalogue_support import call, civilian_unit, defence_unit, publish_civilian, publish_defence
from ..reporting_support import entry, local, rate, record, scene

FIELDS = {"effective_minutes", "external_minutes", "sharing_rate_bp", "revenue_fen", "external_users", "rating_avg"}


def _data(factory):
    s = scene(factory)
    op = s.unit_a.operator
    rec = record(s.a1, s.sme1, start=local(2026, 10, 8), minutes=90, operator=op, fee_fen=75_000)
    entry(rec, "charge", 75_000, date(2026, 10, 8), user=op)
    entry(rec, "payment", 75_000, date(2026, 10, 9), user=op)
    rate(rec, 5, user=s.sme1_user)
    record(s.a2, s.unit_a.org, start=local(2026, 10, 9), minutes=30, operator=op)
    record(s.b1, s.sme2, start=local(2026, 11, 2), minutes=60, operator=s.unit_b.operator)
    return s


def _commission(factory) -> dict:
    return factory.bearer(factory.user(factory.org("commission"), ("commission_auditor",), totp=True))


def test_city_level_statistics_with_the_contract_fields(app, client, factory):
    s = _data(factory)
    commission = _commission(factory)  # reads city and district figures whole
    response = call(client, "GET", "/statistics?year=2026&quarter=4", commission)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) >= FIELDS and body["suppressed"] is False
    assert (body["effective_minutes"], body["external_minutes"], body["sharing_rate_bp"]) == (180, 150, 8333)
    assert (body["revenue_fen"], body["external_users"], body["rating_avg"]) == (75_000, 2, 5.0)
    assert (body["from"], body["to"]) == ("2026-10-01", "2026-12-31")
    assert body["indicators"]["effective_machine_hours"] == "3.0"
    district = call(client, "GET", "/statistics?year=2026&district=" + "鼓楼区", commission).get_json()
    assert (district["effective_minutes"], district["sharing_rate_bp"]) == (30, 0)
    assert call(client, "GET", "/statistics?year=2026&quarter=3", commission).get_json()["effective_minutes"] == 0
    # Anyone else: city level is public, but never a figure of fewer than three provider units
    # (test_statistics_disclosure.py). Two units served: nothing; a third: the service figures, while payments
    # and ratings, all unit A's, stay withheld.
    public = call(client, "GET", "/statistics?year=2026&quarter=4").get_json()
    assert public["suppressed"] is True and not FIELDS & set(public)
    assert (public["from"], public["to"]) == ("2026-10-01", "2026-12-31")
    third = civilian_unit(factory)
    record(publish_civilian(third, district="玄武区"), s.sme1, start=local(2026, 11, 4), minutes=20,
           operator=third.operator)
    app.config["DASHBOARD_CACHE_SECONDS"] = 0
    public = call(client, "GET", "/statistics?year=2026&quarter=4").get_json()
    assert public["suppressed"] is True and public["effective_minutes"] == 200 and public["external_users"] == 2
    assert "revenue_fen" not in public and "rating_avg" not in public


def test_unit_and_instrument_statistics_for_the_unit_operators_and_the_commission(client, factory):
    s = _data(factory)
    unit = s.unit_a.org.id
    own = call(client, "GET", f"/statistics?unit_id={unit}&year=2026", s.unit_a.h("operator")).get_json()
    assert (own["effective_minutes"], own["external_minutes"], own["revenue_fen"]) == (120, 90, 75_000)
    commission = factory.org("commission")
    auditor = factory.user(commission, ("commission_auditor",), totp=True)
    seen = call(client, "GET", f"/statistics?unit_id={unit}", factory.bearer(auditor))
    assert seen.status_code == 200 and seen.get_json()["effective_minutes"] == 120
    per_instrument = call(client, "GET", f"/statistics?instrument_id={s.a2.id}", s.unit_a.h("operator")).get_json()
    assert (per_instrument["effective_minutes"], per_instrument["external_minutes"]) == (30, 0)
    # Refusals: anonymous 401, another unit's operator and an SME 403, unknown ids 404.
    assert call(client, "GET", f"/statistics?unit_id={unit}").status_code == 401
    assert call(client, "GET", f"/statistics?unit_id={unit}", s.unit_b.h("operator")).status_code == 403
    sme = factory.bearer(s.sme1_user)
    assert call(client, "GET", f"/statistics?unit_id={unit}", sme).status_code == 403
    assert call(client, "GET", f"/statistics?instrument_id={s.a1.id}", sme).status_code == 403
    assert call(client, "GET", "/statistics?unit_id=987654", sme).status_code == 404
    assert call(client, "GET", "/statistics?instrument_id=987654", sme).status_code == 404


def test_a_user_organisation_reads_its_own_figures_only(client, factory):
    s = _data(factory)
    sme = factory.bearer(s.sme1_user)
    mine = call(client, "GET", f"/statistics?organization_id={s.sme1.id}", sme)
    assert mine.status_code == 200
    assert (mine.get_json()["effective_minutes"], mine.get_json()["revenue_fen"]) == (90, 75_000)
    assert call(client, "GET", f"/statistics?organization_id={s.sme2.id}", sme).status_code == 403
    # An organisation still pending verification is not revealed to others (404), as an unknown id; its own
    # users read it.
    pending = factory.org("enterprise", verified=False)
    assert call(client, "GET", f"/statistics?organization_id={pending.id}", sme).status_code == 404
    pending_user = factory.bearer(factory.user(pending, ("sme_user",)))
    assert call(client, "GET", f"/statistics?organization_id={pending.id}", pending_user).status_code == 200
    assert call(client, "GET", f"/statistics?unit_id={pending.id}", sme).status_code == 404


def test_an_unapproved_defence_instrument_is_not_found(client, factory):
    unit = defence_unit(factory)
    published = publish_defence(unit, {"name_zh": "public"})
    outsider = factory.user(factory.org("enterprise"), ("sme_user",))
    assert call(client, "GET", f"/statistics?instrument_id={published.id}", unit.h("operator")).status_code == 200
    assert call(client, "GET", f"/statistics?instrument_id={published.id}",
                factory.bearer(outsider)).status_code == 403


def test_bad_values_are_422_naming_the_field(client, factory):
    for query, name in [("quarter=5&year=2026", "quarter"), ("quarter=0&year=2026", "quarter"),
                        ("quarter=2", "year"), ("year=20260", "year"), ("year=abc", "year"),
                        ("unit_id=99999999999", "unit_id"), ("instrument_id=-1", "instrument_id"),
                        ("district=" + "区" * 61, "district"), ("organization_id=0", "organization_id")]:
        response = call(client, "GET", f"/statistics?{query}")
        assert response.status_code == 422, query
        body = response.get_json()
        assert body["error"] == "validation_failed" and name in body["fields"], (query, body)


def test_a_district_the_confidentiality_review_withheld_is_never_matched(client, factory):
    s = scene(factory)
    unit = defence_unit(factory)
    secret = publish_defence(unit, {"name_zh": "public"}, district="秘密区")
    opened = publish_defence(unit, {"name_zh": "public", "district": "public"}, district="秦淮区")
    record(secret, s.sme1, start=local(2026, 11, 10), minutes=600, operator=unit.operator)
    record(opened, s.sme1, start=local(2026, 11, 11), minutes=45, operator=unit.operator)
    commission = _commission(factory)
    assert call(client, "GET", "/statistics?district=" + "秘密区", commission).get_json()["effective_minutes"] == 0
    assert call(client, "GET", "/statistics?district=" + "秦淮区", commission).get_json()["effective_minutes"] == 45
    assert call(client, "GET", "/statistics", commission).get_json()["effective_minutes"] == 645  # in the city
    for query in ("?district=" + "秘密区", "?district=" + "秦淮区", ""):  # one unit: nothing for the public
        assert call(client, "GET", "/statistics" + query).get_json()["suppressed"] is True
