"""The demo data set carries services, payments and ratings made through the ledger services, and its reports."""

from sqlalchemy import func, select

from instrument_share import demo
from instrument_share.audit.models import AuditEntry
from instrument_share.core.clock import local_today
from instrument_share.db import db
from instrument_share.ledger.models import RevenueEntry, ServiceRating, ServiceRecord
from instrument_share.reporting import statistics as st
from instrument_share.reporting.models import OperationReport
from instrument_share.reporting.periods import months_back


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_the_demo_seed_fills_the_dashboards_through_the_ledger_services(client):
    with db.transaction():
        demo.seed()
    records = _count(ServiceRecord)
    assert records > 50 and _count(ServiceRating) > 10
    assert _count(RevenueEntry, RevenueEntry.kind == "payment") > 20
    # Written by the services, so audited like real use.
    assert _count(AuditEntry, AuditEntry.action == "service_record.created") == records
    assert _count(OperationReport) >= 2
    city = st.totals(st.CITY, months_back(local_today(), 12))
    assert city.effective_minutes > 0 and 0 < city.sharing_rate_bp < 10_000 and city.revenue_fen > 0
    assert "<svg" in client.get("/dashboards/city").get_data(as_text=True)
