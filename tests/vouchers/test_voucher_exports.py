"""Voucher exports: claims, payouts, per-enterprise and per-provider reports, as CSV and XLSX read back; commission
roles only."""

import csv
import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from .._pages import sign_in
from ..catalogue_support import civilian_unit, open_since, publish_civilian
from ..factories import english
from ..voucher_workflow_support import act, approved_claim, enterprise, service, submitted_claim, voucher_world


@pytest.fixture
def exported(client, factory, frozen_clock):
    """Paid 25,000 (1 h at provider A) for the SME; approved 50,000 (2 h at provider B) for a second enterprise;
    a submitted claim of 25,000 (1 h at A) for the SME; a rejected one."""
    world = voucher_world(factory)
    unit_b = civilian_unit(factory, name="南京测试大学B")
    instrument_b = open_since(publish_civilian(unit_b, service_modes=["machine_time"], fee_per_hour_fen=50_000),
                              world.unit.org.created_at - timedelta(days=365))
    world_b = world.__class__(**(vars(world) | {"unit": unit_b, "instrument": instrument_b}))
    paid = approved_claim(client, world, [service(world)])
    frozen_clock.move(days=7)
    assert act(client, world, paid.id, "pay", "officer", {"paid_on": "2026-12-08", "payment_ref": "=cmd|'/C calc'!A0"}
               ).status_code == 200
    other = enterprise(factory, name="南京导出测试有限公司")
    other_user = factory.user(other, ("sme_user",))
    world_other = world_b.__class__(**(vars(world_b) | {"sme": other, "sme_user": other_user}))
    approved = approved_claim(client, world_other, [service(world_b, org=other, minutes=120)])
    submitted = submitted_claim(world, [service(world)])
    rejected = submitted_claim(world, [service(world)])
    assert act(client, world, rejected.id, "reject", "auditor1", {"reason": "不符"}).status_code == 200
    sign_in(client, factory, world.officer)
    english(client)
    return {"world": world, "unit_b": unit_b, "other": other, "paid": paid, "approved": approved,
            "submitted": submitted, "rejected": rejected}


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data().decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def read_xlsx(response) -> list[list]:
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def test_claims_report(client, exported):
    rows = read_csv(client.get("/vouchers/exports/claims.csv?year=2026"))
    header, body = rows[0], rows[1:]
    assert header[:8] == ["Claim", "Year", "Policy version", "Enterprise", "USCC", "Status", "Raw subsidy (fen)",
                          "Subsidy (fen)"]
    by_id = {int(r[0]): r for r in body}
    assert set(by_id) == {exported[k].id for k in ("paid", "approved", "submitted", "rejected")}
    assert by_id[exported["paid"].id][5:8] == ["paid", "25000", "25000"]
    assert by_id[exported["approved"].id][3] == "南京导出测试有限公司"
    assert by_id[exported["paid"].id][13] == "'=cmd|'/C calc'!A0"  # a formula is kept as text
    xlsx = read_xlsx(client.get("/vouchers/exports/claims.xlsx"))
    assert xlsx[0] == header and len(xlsx) == 5
    assert {r[0]: r[7] for r in xlsx[1:]}[exported["approved"].id] == 50_000
    assert read_csv(client.get("/vouchers/exports/claims.csv?year=2025"))[1:] == []


def test_payouts_report(client, exported):
    rows = read_csv(client.get("/vouchers/exports/payouts.csv"))
    assert len(rows) == 2
    assert rows[1][0] == str(exported["paid"].id) and rows[1][4:6] == ["25000", "2026-12-08"]
    assert rows[1][-2:] == ["0", "25000"]
    assert read_xlsx(client.get("/vouchers/exports/payouts.xlsx"))[1][4] == 25_000


def test_per_enterprise_report(client, exported):
    rows = read_xlsx(client.get("/vouchers/exports/enterprises.xlsx"))
    assert rows[0] == ["Enterprise", "USCC", "Claims submitted", "Committed (fen)", "Approved or paid (fen)",
                       "Paid (fen)", "Clawback (fen)"]
    table = {r[0]: r[2:] for r in rows[1:]}
    world = exported["world"]
    # The SME: paid 25,000, submitted 25,000 (committed), rejected (not committed).
    assert table[world.sme.name] == [3, 50_000, 25_000, 25_000, 0]
    assert table["南京导出测试有限公司"] == [1, 50_000, 50_000, 0, 0]
    assert rows[1][0] == "南京导出测试有限公司"  # the largest granted subsidy first


def test_per_provider_report(client, exported):
    rows = read_csv(client.get("/vouchers/exports/providers.csv?year=2026"))
    assert rows[0][-1] == "Line subsidies before caps (fen)"
    table = {r[0]: r[2:] for r in rows[1:]}
    world = exported["world"]
    # Only approved or paid claims count: A has the paid claim, B the approved one.
    assert table[world.unit.org.name] == ["1", "1", "50000", "25000.0000"]
    assert table["南京测试大学B"] == ["1", "1", "100000", "50000.0000"]


def test_exports_are_for_the_commission_only(client, factory, exported):
    world = exported["world"]
    assert client.get("/vouchers/exports").status_code == 200
    sme = client.application.test_client()
    sign_in(sme, factory, world.sme_user)
    for path in ("/vouchers/exports", "/vouchers/exports/claims.csv", "/vouchers/exports/providers.xlsx"):
        assert sme.get(path).status_code == 403
    anonymous = client.application.test_client().get("/vouchers/exports/claims.csv")
    assert anonymous.status_code == 302 and anonymous.location.startswith("/login")
    auditor = client.application.test_client()
    sign_in(auditor, factory, world.auditor1)
    assert auditor.get("/vouchers/exports/enterprises.csv").status_code == 200
    assert client.get("/vouchers/exports/claims.csv?year=1").status_code == 404
