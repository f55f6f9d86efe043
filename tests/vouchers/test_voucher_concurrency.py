"""Concurrent submissions never overrun the budget, an enterprise cap or a record lock (issue 6, "Done when").

Real threads, each with its own application context and database session (and so its own connection), submit
claims at the same moment against a nearly exhausted budget and enterprise caps; on SQLite the write lock
(BEGIN IMMEDIATE), on PostgreSQL the year's advisory lock serialises them. Afterwards the committed totals are
within every limit, and each reservation's trace shows the headroom left by exactly the reservations before it.
"""

import json
import threading
from collections import Counter

import pytest
from sqlalchemy import select

from instrument_share.accounts.models import User
from instrument_share.audit.models import AuditEntry
from instrument_share.core.errors import DomainError
from instrument_share.db import db
from instrument_share.vouchers import claims
from instrument_share.vouchers.models import VoucherClaim, VoucherClaimedRecord

from .. import voucher_support as vs

BUDGET = 100_000
ENTERPRISE_CAP = 25_000


def race(app, jobs: list[tuple[int, int]]) -> list[str]:
    """Submit every (user_id, claim_id) from its own thread, all released together; the outcome codes."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list[str] = [""] * len(jobs)

    def run(index: int, user_id: int, claim_id: int) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=60)
                with db.transaction():
                    actor = db.session.get(User, user_id)
                    claim = db.session.get(VoucherClaim, claim_id)
                    claims.submit(actor=actor, claim=claim, contract_nos=["HT"], invoice_nos=[f"FP-{claim_id}"])
                outcomes[index] = "submitted"
            except DomainError as exc:
                outcomes[index] = exc.code
            except Exception as exc:  # reported, so the assertion shows what went wrong
                outcomes[index] = f"error: {exc!r}"
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, u, c)) for i, (u, c) in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return outcomes


def ready_claim(w, who, charge: int) -> int:
    claim = vs.draft(w, [vs.record(w.nanjing, who.org, charge=charge)], who)
    with db.transaction():
        claims.add_evidence(actor=who.user, claim=claim, file=vs.Upload())
    return claim.id


@pytest.mark.slow
def test_concurrent_submissions_respect_budget_and_enterprise_caps(app, factory, frozen_clock):
    w = vs.world(factory, budget_fen=BUDGET, enterprise_annual_cap_fen=ENTERPRISE_CAP)
    firms = [w.sme] + [vs.claimant(factory, headers=False) for _ in range(3)]
    # Nearly exhausted: 70,000 of the budget is reserved already, 20,000 of them by the first enterprise.
    vs.submitted(w, [vs.record(w.nanjing, firms[0].org, charge=40_000)], firms[0])
    for firm, charge in zip(firms[1:], (33_334, 33_334, 33_332), strict=True):
        vs.submitted(w, [vs.record(w.nanjing, firm.org, charge=charge)], firm)
    assert vs.committed_sql() == 70_000
    # 20 contenders asking 8,000 fen each (16,000 fen paid at 50%): 160,000 fen for 30,000 fen of budget.
    jobs = [(firm.user.id, ready_claim(w, firm, 16_000)) for firm in firms for _ in range(5)]
    db.session.remove()

    outcomes = race(app, jobs)

    counts = Counter(outcomes)
    assert set(counts) <= {"submitted", "below_min_claim"}, counts
    assert counts["submitted"] >= 4 and counts["below_min_claim"] >= 1, counts
    assert vs.committed_sql() <= BUDGET
    for firm in firms:
        assert vs.committed_sql(org_id=firm.org.id) <= ENTERPRISE_CAP
    assert vs.committed_sql() == BUDGET  # every fen of headroom found a taker, none twice
    _assert_each_reservation_saw_the_ones_before([firm.org.id for firm in firms])


def _assert_each_reservation_saw_the_ones_before(org_ids: list[int]) -> None:
    """Replay the reservations in audit order: each trace's headroom is the limit minus everything before it."""
    db.session.rollback()
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "voucher.claim_submitted")
                                 .order_by(AuditEntry.seq)).all()
    year_total, seen = 0, dict.fromkeys(org_ids, 0)
    for entry in entries:
        claim = db.session.get(VoucherClaim, int(entry.object_id))
        trace = json.loads(entry.details)["trace"]
        caps = {cap["name"]: cap["limit_fen"] for cap in trace["caps"]}
        assert caps["budget"] == max(0, BUDGET - year_total), (claim.id, caps, year_total)
        assert caps["enterprise"] == max(0, ENTERPRISE_CAP - seen[claim.organization_id])
        assert trace["subsidy_fen"] == claim.subsidy_fen
        year_total += claim.subsidy_fen
        seen[claim.organization_id] += claim.subsidy_fen
    assert year_total == vs.committed_sql()


@pytest.mark.slow
def test_one_record_in_many_concurrent_claims_is_reserved_once(app, factory, frozen_clock):
    w = vs.world(factory)
    record = vs.record(w.nanjing, w.sme.org, charge=10_000)
    ids = []
    for _ in range(8):
        claim = vs.draft(w, [record])
        with db.transaction():
            claims.add_evidence(actor=w.sme.user, claim=claim, file=vs.Upload())
        ids.append(claim.id)
    db.session.remove()

    outcomes = race(app, [(w.sme.user.id, claim_id) for claim_id in ids])

    assert Counter(outcomes) == {"submitted": 1, "below_min_claim": 7}, outcomes
    db.session.rollback()
    locks = db.session.scalars(select(VoucherClaimedRecord)).all()
    assert [(lock.service_record_id, lock.claim_id) for lock in locks] == [(record.id, ids[outcomes.index(
        "submitted")])]
    assert vs.committed_sql() == 5_000
