"""Dashboards and report pages render for each role, with SVG charts (title and desc) and the numbers as tables."""

import re
from datetime import date

from openpyxl import load_workbook

from instrument_share.db import db
from instrument_share.reporting import access, generation

from ..catalogue_support import civilian_unit, defence_unit, publish_civilian, publish_defence
from ..factories import english, post_form, sign_in
from ..reporting_support import entry, local, rate, record, scene


def _world(factory, frozen_clock):
    s = scene(factory)
    op = s.unit_a.operator
    rec = record(s.a1, s.sme1, start=local(2026, 11, 3), minutes=150, operator=op, fee_fen=123_456)
    entry(rec, "charge", 123_456, date(2026, 11, 3), user=op)
    entry(rec, "payment", 123_456, date(2026, 11, 5), user=op)
    rate(rec, 5, user=s.sme1_user)
    record(s.b1, s.sme2, start=local(2026, 10, 20), minutes=60, operator=s.unit_b.operator)
    unit_c = civilian_unit(factory)  # a third provider unit: the public city figures need three
    c1 = publish_civilian(unit_c, district="玄武区", name_zh="色谱仪C1")
    record(c1, s.sme2, start=local(2026, 11, 4), minutes=30, operator=unit_c.operator)
    commission = factory.org("commission")
    s.extra["auditor"] = factory.user(commission, ("commission_auditor",), totp=True)
    return s


def _page(client, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code)
    return response.get_data(as_text=True)


def _svg_ok(html: str) -> None:
    charts = re.findall(r"<svg[^>]*role=\"img\"[^>]*>(.*?)</svg>", html, re.S)
    assert charts, "no chart"
    for chart in charts:
        assert "<title id=" in chart and "<desc id=" in chart


def test_anonymous_visitors_see_the_city_figures(client, factory, frozen_clock):
    _world(factory, frozen_clock)
    english(client)
    assert client.get("/dashboards/").location.endswith("/dashboards/city")
    html = _page(client, "/dashboards/city")
    _svg_ok(html)
    assert "4.0" in html and "玄武区" in html  # 240 minutes this year; the district of the three instruments
    assert "扫描电镜A1" not in html  # no instrument names on the public page
    for path in ("/dashboards/unit", "/dashboards/commission", "/dashboards/organization", "/reports/"):
        assert client.get(path).status_code == 302  # to the sign-in page


def test_a_provider_operator_sees_the_units_dashboard_and_reports(client, factory, frozen_clock):
    s = _world(factory, frozen_clock)
    english(client)
    sign_in(client, factory, s.unit_a.operator)
    assert client.get("/dashboards/").location.endswith("/dashboards/unit")
    html = _page(client, "/dashboards/unit")
    _svg_ok(html)
    assert "扫描电镜A1" in html and "¥1,234.56" in html and "2.5" in html
    assert "核磁共振B1" not in html  # another unit's instrument
    _page(client, "/dashboards/commission", 403)
    # Generate the unit's report on demand, then download the XLSX.
    page = _page(client, "/reports/")
    assert "Generate" in page
    response = post_form(client, "/reports/generate", {"scope": str(s.unit_a.org.id), "year": "2026",
                                                        "quarter": "4"}, page="/reports/")
    assert response.status_code == 302
    reports = list(db.session.scalars(access.readable_reports(s.unit_a.operator)))
    assert {r.format for r in reports} == {"csv", "xlsx"}
    xlsx = next(r for r in reports if r.format == "xlsx")
    download = client.get(f"/reports/{xlsx.id}/download")
    assert download.status_code == 200 and download.headers["X-Content-SHA256"] == xlsx.sha256
    from io import BytesIO

    sheet = load_workbook(BytesIO(download.data), read_only=True).worksheets[0]
    assert [row[0] for row in sheet.iter_rows(values_only=True)][1:] == [s.a1.id, s.a2.id, None]
    # Another unit cannot generate for this one, nor download its reports.
    refused = post_form(client, "/reports/generate", {"scope": "platform", "year": "2026", "quarter": "4"},
                        page="/reports/")
    assert refused.status_code == 422  # "platform" is not among this operator's choices


def test_another_unit_and_an_sme_cannot_read_a_units_report(client, factory, frozen_clock):
    s = _world(factory, frozen_clock)
    with db.transaction():
        made = generation.generate(2026, 4, unit_id=s.unit_a.org.id)
    sign_in(client, factory, s.unit_b.operator)
    for report in made:
        assert client.get(f"/reports/{report.id}/download").status_code == 404
    assert "operation-report" not in _page(client, "/reports/")
    other = client.application.test_client()
    sign_in(other, factory, s.sme1_user)
    assert other.get("/reports/").status_code == 403
    assert other.get(f"/reports/{made[0].id}/download").status_code == 404


def test_the_commission_sees_city_units_and_the_platform_report(client, factory, frozen_clock):
    s = _world(factory, frozen_clock)
    english(client)
    sign_in(client, factory, s.extra["auditor"])
    assert client.get("/dashboards/").location.endswith("/dashboards/commission")
    html = _page(client, "/dashboards/commission")
    _svg_ok(html)
    assert s.unit_a.org.name in html and "扫描电镜A1" in html and "Top units" in html
    response = post_form(client, "/reports/generate", {"scope": "platform", "year": "2026", "quarter": "4"},
                         page="/reports/")
    assert response.status_code == 302
    platform = [r for r in db.session.scalars(access.readable_reports(s.extra["auditor"])) if r.unit_id is None]
    assert len(platform) == 2
    assert client.get(f"/reports/{platform[0].id}/download").status_code == 200
    with db.transaction():
        unit_report = generation.generate(2026, 4, unit_id=s.unit_b.org.id, formats=("csv",))[0]
    csv_download = client.get(f"/reports/{unit_report.id}/download")
    assert csv_download.status_code == 200 and csv_download.data.startswith(b"\xef\xbb\xbf")


def test_an_sme_sees_its_spending_and_services(client, factory, frozen_clock):
    s = _world(factory, frozen_clock)
    english(client)
    sign_in(client, factory, s.sme1_user)
    assert client.get("/dashboards/").location.endswith("/dashboards/organization")
    html = _page(client, "/dashboards/organization")
    _svg_ok(html)
    assert "¥1,234.56" in html and "扫描电镜A1" in html and "核磁共振B1" not in html
    _page(client, "/dashboards/unit", 403)
    _page(client, "/dashboards/commission", 403)


def test_a_defence_instruments_hidden_name_and_district_stay_hidden(client, factory, frozen_clock):
    s = _world(factory, frozen_clock)
    unit = defence_unit(factory)
    secret = publish_defence(unit, {"name_zh": "hidden", "district": "hidden", "service_modes": "registered"},
                             name_zh="保密仪器甲", district="秘密区")
    record(secret, s.sme1, start=local(2026, 11, 10), minutes=600, operator=unit.operator)
    english(client)
    city = _page(client, "/dashboards/city")
    # Its district is withheld; so are its figures: one unit under "Undisclosed", and with it 玄武区 (the city
    # minus 玄武区 would give it back): both count under "Other districts" only.
    assert "秘密区" not in city and "Undisclosed" not in city and "Other districts" in city
    sign_in(client, factory, s.extra["auditor"])
    html = _page(client, "/dashboards/commission")
    assert "保密仪器甲" not in html and "秘密区" not in html and "Undisclosed instrument" in html
    with db.transaction():
        report = generation.generate(2026, 4, unit_id=None, formats=("csv",))[0]
    text = report.file.data.decode("utf-8-sig")
    assert "保密仪器甲" not in text and "秘密区" not in text and str(secret.id) in text


def test_city_figures_are_kept_a_few_minutes_per_app_and_language(app, client, factory, frozen_clock):
    s = _world(factory, frozen_clock)
    english(client)
    first = _page(client, "/dashboards/city")
    assert "4.0" in first
    record(s.a2, s.sme2, start=local(2026, 11, 20), minutes=600, operator=s.unit_a.operator)
    assert "14.0" not in _page(client, "/dashboards/city")  # the cached figures
    app.config["DASHBOARD_CACHE_SECONDS"] = 0
    assert "14.0" in _page(client, "/dashboards/city")
