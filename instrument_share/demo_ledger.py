"""Demo services, payments and ratings over the last three quarters, so the dashboards and reports show something.

Everything goes through the ledger services (service records with their charges, payments, the odd refund,
ratings), so the audit log holds the same entries real use would write. Deterministic: the same data every seed.
"""

import random
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from .accounts.models import Organization, User
from .catalogue.models import Clearance, Instrument
from .core.clock import local_today, now_utc
from .db import db
from .ledger import entries, ratings, service_records
from .reporting import generation
from .reporting.periods import previous_quarter

TZ = ZoneInfo("Asia/Shanghai")
DAYS = 270  # about three quarters back from today
SERVICES_PER_INSTRUMENT = (6, 16)
OPERATORS = {"nju": "op_nju", "seu": "op_seu", "keylab": "op_keylab", "institute": "op_jitri",
             "defence14": "op_cj", "defence55": "op_zj"}
# The user organisations that book, and who rates for them.
USERS_OF = {"sme_chip": "sme_chip", "sme_bio": "sme_bio", "sme_suzhou": "sme_suzhou", "seu": "op_seu"}
COMMENTS = {5: "操作规范，数据质量很好", 4: "服务及时，结果可靠", 3: "预约等待时间较长"}


def _mode(instrument: Instrument) -> str | None:
    for mode in ("machine_time", "experiment", "sample_testing", "statutory_testing"):
        if mode in instrument.modes:
            return mode
    return None


def seed_ledger(orgs: dict[str, Organization], users: dict[str, User]) -> dict[str, int]:
    """Add services, entries and ratings in the caller's transaction; return counts for the seed's audit entry."""
    rng = random.Random(2026)
    today, now = local_today(), now_utc()
    keys = {org.id: key for key, org in orgs.items()}
    counts = {"service_records": 0, "payments": 0, "refunds": 0, "ratings": 0}
    instruments = db.session.scalars(select(Instrument).where(Instrument.status == "published")
                                     .order_by(Instrument.id)).all()
    cleared: dict[int, set[int]] = {}
    for unit_id, org_id in db.session.execute(select(Clearance.unit_id, Clearance.organization_id)):
        cleared.setdefault(unit_id, set()).add(org_id)
    for instrument in instruments:
        unit_key = keys.get(instrument.owner_id)
        mode = _mode(instrument)
        if unit_key not in OPERATORS or mode is None:
            continue
        operator = users[OPERATORS[unit_key]]
        for _ in range(rng.randint(*SERVICES_PER_INSTRUMENT)):
            day = today - timedelta(days=rng.randint(3, DAYS))
            start = (now - timedelta(days=(today - day).days)).astimezone(TZ).replace(
                hour=rng.randint(8, 15), minute=rng.choice((0, 30)), second=0, microsecond=0)
            minutes = rng.choice((60, 90, 120, 180, 240))
            user_key = rng.choice([*USERS_OF, unit_key, unit_key])  # about a third own use
            if user_key == unit_key or orgs[user_key].id == instrument.owner_id or \
                    (instrument.is_defence and orgs[user_key].id not in cleared.get(instrument.owner_id, ())):
                user_key = unit_key  # a defence unit serves only the organisations it has cleared
            samples = rng.randint(1, 12) if mode in ("sample_testing", "statutory_testing") else None
            record = service_records.record_standalone(
                actor=operator, instrument=instrument, organization=orgs[user_key], mode=mode, actual_start=start,
                actual_end=start + timedelta(minutes=minutes), samples=samples,
                result_delivered_on=min(day + timedelta(days=rng.randint(0, 5)), today))
            counts["service_records"] += 1
            if record.fee_fen > 0 and record.external and rng.random() < 0.85:
                paid_on = min(day + timedelta(days=rng.randint(2, 25)), today)
                entries.append_entry(actor=operator, record=record, kind="payment", amount_fen=record.fee_fen,
                                     entry_date=paid_on, invoice_no=f"DEMO{record.id:06d}",
                                     payment_ref=f"银行转账{record.id:06d}")
                counts["payments"] += 1
                if rng.random() < 0.05:
                    entries.append_entry(actor=operator, record=record, kind="refund",
                                         amount_fen=max(record.fee_fen // 4, 1),
                                         entry_date=min(paid_on + timedelta(days=7), today), reason="部分测试未完成")
                    counts["refunds"] += 1
            if record.external and user_key in USERS_OF and rng.random() < 0.6:
                score = rng.choice((5, 5, 4, 4, 3))
                ratings.rate(actor=users[USERS_OF[user_key]], record=record, score=score, comment=COMMENTS[score])
                counts["ratings"] += 1
    year, quarter = previous_quarter(today)
    # What the quarterly job would have made, stored in the caller's transaction.
    counts["reports"] = len(generation.store_rendered(generation.render_missing(year, quarter)))
    return counts
