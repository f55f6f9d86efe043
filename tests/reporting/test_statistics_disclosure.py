"""Public statistics never show a figure built from fewer than PUBLIC_STATS_MIN_UNITS provider units, nor one that
gives such a figure back by difference; the commission and the unit itself still read it whole.

The world: 玄武区 has units A, B, C; 鼓楼区 has A, B, C and E; 秦淮区 has only the defence unit D, whose district
the confidentiality review made public (its fee and name it did not). All services are in November 2026; A, B and C
are paid for their 玄武区 services, D for its own; only D's service is rated.
"""

import json
from datetime import date

from instrument_share.db import db
from instrument_share.jobs import JOBS
from instrument_share.reporting import dashboards
from instrument_share.reporting import statistics as st
from instrument_share.reporting.models import StatisticsSnapshot
from instrument_share.reporting.public import PublicFigures

from ..catalogue_support import call, civilian_unit, defence_unit, publish_civilian, publish_defence
from ..factories import english, sign_in
from ..reporting_support import entry, local, rate, record, scene

JOB = next(job for job in JOBS if job.name == "statistics_snapshot")
FIGURES = {"effective_minutes", "external_minutes", "sharing_rate_bp", "revenue_fen", "external_users",
           "rating_avg", "charges_fen", "payments_fen", "services", "indicators"}
D_MINUTES, D_HOURS, D_CHARGE = 1234, "20.6", 617_000  # the defence unit's figures: 300 yuan an hour, hidden
CITY_HOURS, GULOU_HOURS, OTHER_HOURS = "27.1", "4.7", "22.4"  # 1624, 280 and 110 + 1234 minutes
CITY_REVENUE = D_CHARGE + 6_000 + 3_000 + 2_000


def _world(app, factory):
    app.config["DASHBOARD_CACHE_SECONDS"] = 0  # every request sees the data as it is now
    s = scene(factory)
    unit_c, unit_e = civilian_unit(factory), civilian_unit(factory)
    day = local(2026, 11, 10)
    for unit, xuanwu, gulou in ((s.unit_a, 60, 90), (s.unit_b, 30, 45), (unit_c, 20, 25), (unit_e, None, 120)):
        for district, minutes in (("玄武区", xuanwu), ("鼓楼区", gulou)):
            if minutes:
                instrument = publish_civilian(unit, district=district, name_zh=f"仪器{district}{minutes}")
                rec = record(instrument, s.sme1, start=day, minutes=minutes, operator=unit.operator)
                if district == "玄武区":
                    entry(rec, "payment", minutes * 100, date(2026, 11, 12), user=unit.operator)
    unit_d = defence_unit(factory)
    secret = publish_defence(unit_d, {"name_zh": "registered", "district": "public"}, district="秦淮区",
                             name_zh="国防仪器丁")
    rec = record(secret, s.sme2, start=day, minutes=D_MINUTES, operator=unit_d.operator, fee_fen=D_CHARGE)
    entry(rec, "charge", D_CHARGE, date(2026, 11, 10), user=unit_d.operator)
    entry(rec, "payment", D_CHARGE, date(2026, 11, 11), user=unit_d.operator)
    rate(rec, 2, user=s.sme2_user)
    s.extra |= {"unit_d": unit_d, "unit_e": unit_e,
                "auditor": factory.user(factory.org("commission"), ("commission_auditor",), totp=True)}
    return s


def _suppressed(body: dict) -> bool:
    return body.get("suppressed") is True and not FIGURES & set(body)


def _html(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def test_a_district_of_one_defence_unit_shows_no_figure_to_anyone_outside(app, client, factory, frozen_clock):
    s = _world(app, factory)
    district = "/statistics?year=2026&district=" + "秦淮区"
    anonymous = call(client, "GET", district)
    assert anonymous.status_code == 200 and _suppressed(anonymous.get_json()), anonymous.get_json()
    assert _suppressed(call(client, "GET", district + "&quarter=4").get_json())
    assert _suppressed(call(client, "GET", "/statistics?district=" + "秦淮区").get_json())  # all time
    sme = factory.bearer(s.sme1_user)
    assert _suppressed(call(client, "GET", district, sme).get_json())
    # The commission and the unit itself read the figures whole.
    commission = call(client, "GET", district, factory.bearer(s.extra["auditor"])).get_json()
    assert commission["suppressed"] is False and commission["effective_minutes"] == D_MINUTES
    assert commission["charges_fen"] == D_CHARGE
    unit_d = s.extra["unit_d"]
    own = call(client, "GET", f"/statistics?year=2026&unit_id={unit_d.org.id}", unit_d.h("operator")).get_json()
    assert own["suppressed"] is False and (own["effective_minutes"], own["charges_fen"]) == (D_MINUTES, D_CHARGE)
    # The city's services come from five units and its payments from four: public. Its one rating is D's: withheld.
    city = call(client, "GET", "/statistics?year=2026").get_json()
    assert (city["effective_minutes"], city["revenue_fen"], city["indicators"]["effective_machine_hours"]) == (
        1624, CITY_REVENUE, CITY_HOURS)
    assert city["suppressed"] is True and "rating_avg" not in city and "rating_avg" not in city["indicators"]
    whole = call(client, "GET", "/statistics?year=2026", factory.bearer(s.extra["auditor"])).get_json()
    assert whole["suppressed"] is False and whole["rating_avg"] == 2.0


def test_the_city_page_shows_the_district_to_no_one_outside(app, client, factory, frozen_clock):
    s = _world(app, factory)
    english(client)
    for viewer in (None, s.sme1_user):
        browser = client.application.test_client()
        english(browser)
        if viewer is not None:
            sign_in(browser, factory, viewer)
        html = _html(browser, "/dashboards/city")
        assert "秦淮区" not in html and D_HOURS not in html and "国防仪器丁" not in html
        assert "¥6,170.00" not in html and "2.00 (1)" not in html  # D's revenue and rating
        assert "玄武区" not in html  # withheld with it: the city minus 鼓楼区 would give it back
        assert "鼓楼区" in html and GULOU_HOURS in html and CITY_HOURS in html
        assert "Other districts" in html and OTHER_HOURS in html  # the two together
        assert "fewer than 3 provider units" in html
    auditor = client.application.test_client()
    english(auditor)
    sign_in(auditor, factory, s.extra["auditor"])
    commission = _html(auditor, "/dashboards/commission")
    assert "秦淮区" in commission and D_HOURS in commission and "玄武区" in commission
    unit = client.application.test_client()
    english(unit)
    sign_in(unit, factory, s.extra["unit_d"].operator)
    assert D_HOURS in _html(unit, "/dashboards/unit")


def test_the_stored_public_snapshot_holds_no_figure_of_the_district(app, client, factory, frozen_clock):
    _world(app, factory)
    english(client)
    JOB.work()
    stored = db.session.get(StatisticsSnapshot, "public.cube")
    assert stored is not None, "no public snapshot"
    payload = json.loads(stored.payload)
    assert "秦淮区" not in stored.payload and "玄武区" not in stored.payload
    minutes = {cell[2]["effective_minutes"] for cell in payload["cube"]["cells"]}
    assert D_MINUTES not in minutes and 110 not in minutes and {1624, 280, 110 + D_MINUTES} <= minutes
    html = _html(client, "/dashboards/city")  # read from the snapshot
    assert "秦淮区" not in html and D_HOURS not in html and CITY_HOURS in html


def test_secondary_suppression_keeps_the_withheld_district_from_being_derived(app, client, factory, frozen_clock):
    _world(app, factory)
    body = {d: call(client, "GET", "/statistics?year=2026&district=" + d).get_json() for d in ("玄武区", "鼓楼区")}
    assert body["鼓楼区"]["suppressed"] is False and body["鼓楼区"]["effective_minutes"] == 280
    assert _suppressed(body["玄武区"])  # three units, but with 秦淮区 the only other district
    city = call(client, "GET", "/statistics?year=2026").get_json()["effective_minutes"]
    assert city - body["鼓楼区"]["effective_minutes"] != D_MINUTES


def test_a_lone_quarter_is_not_derived_from_the_year(app, client, factory, frozen_clock):
    s = _world(app, factory)
    unit_e = s.extra["unit_e"]
    only = publish_civilian(unit_e, district="鼓楼区", name_zh="八月仪器")
    record(only, s.sme1, start=local(2026, 8, 3), minutes=45, operator=unit_e.operator)
    assert call(client, "GET", "/statistics?year=2026").get_json()["effective_minutes"] == 1624 + 45
    assert _suppressed(call(client, "GET", "/statistics?year=2026&quarter=3").get_json())  # unit E alone
    fourth = call(client, "GET", "/statistics?year=2026&quarter=4").get_json()
    assert "effective_minutes" not in fourth  # the year minus it would give E's August back
    assert fourth["revenue_fen"] == CITY_REVENUE  # payments: all in the fourth quarter, from four units


def test_the_setting_changes_the_threshold(app, client, factory, frozen_clock):
    _world(app, factory)
    district = "/statistics?year=2026&district="
    app.config["PUBLIC_STATS_MIN_UNITS"] = 1
    alone = call(client, "GET", district + "秦淮区").get_json()
    assert alone["suppressed"] is False and (alone["effective_minutes"], alone["rating_avg"]) == (D_MINUTES, 2.0)
    app.config["PUBLIC_STATS_MIN_UNITS"] = 5
    assert _suppressed(call(client, "GET", district + "鼓楼区").get_json())  # four units
    assert call(client, "GET", "/statistics?year=2026").get_json()["effective_minutes"] == 1624  # five
    english(client)
    html = _html(client, "/dashboards/city")
    assert "鼓楼区" not in html and "fewer than 5 provider units" in html and CITY_HOURS in html


def test_the_openapi_document_describes_suppressed(client):
    operation = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/statistics"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["properties"]["suppressed"]["type"] == "boolean" and "suppressed" in schema["required"]
    assert {"effective_minutes", "revenue_fen", "rating_avg", "indicators"} <= set(schema["properties"])


def test_a_district_shown_for_some_measures_reads_a_dash_for_the_others(app):
    paid_only = PublicFigures(st.Figures(payments_fen=5_000, effective_minutes=0), frozenset({"services"}))
    with app.test_request_context():
        section = dashboards.district_section({"玄武区": paid_only})
    assert section.rows == [["玄武区", "—", "—", "—", "¥50.00", "—"]]
    assert "玄武区: —" in str(section.chart)
