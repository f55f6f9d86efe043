"""Benchmark vouchers: recompute every claim of a year (100,000 claims, 1,000,000 lines) and a 20-line draft over HTTP.

Usage:
    .venv/bin/python bench/vouchers.py [--claims 100000] [--lines-per-claim 10] [--chunk 5000] [--drafts 200]
        [--keep]

Database: DATABASE_URL when it names PostgreSQL (an empty database you own: its schema is dropped and migrated
afresh); otherwise a new SQLite file in a temporary directory.

1. Data: 10 claims per enterprise, each of --lines-per-claim service records of one Nanjing provider; every record
   has a charge and a payment in the policy year, every 10th a refund, every 7th a payment of the year before; every
   10th line is at the defence rate. Rows are bulk-inserted with INSERT … SELECT over generated numbers.
2. Recompute: the year is replayed in submission order, as an auditor reproducing it would: per chunk of claims the
   lines and their ledger entries are read in two queries, the eligible amounts and subsidies come from
   vouchers/compute.py (eligible_amount, compute_subsidy) with the headroom left by the claims before. Only reads.
3. Draft: POST /api/v1/voucher-claims with 20 service records through the Flask test client (in process, the whole
   request: token check, eligibility of every line, group, committed totals, trace, audit entry, commit), --drafts
   times, once before the bulk data and once against the year of step 1 (whose budget headroom sums 100,000
   reservations on every draft).

Prints figures; asserts nothing about time.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

YEAR = 2026
CLAIMS_PER_ORG = 10


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, max {ordered[-1]:.1f} ms"


def numbers_sql(sqlite: bool) -> str:
    if sqlite:
        return ("WITH RECURSIVE seq(n) AS (SELECT :lo UNION ALL SELECT n + 1 FROM seq WHERE n + 1 < :hi) "
                "SELECT n FROM seq")
    return "SELECT n FROM generate_series(:lo, :hi - 1) AS n"


def next_id(table: str) -> int:
    from sqlalchemy import text

    from instrument_share.db import db

    return int(db.session.scalar(text(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")))  # noqa: S608


def bulk(args, ctx: dict) -> None:
    """Insert enterprises, records, ledger entries, claims and lines; ids are assigned here so rows can refer to
    each other arithmetically."""
    from sqlalchemy import text

    from instrument_share.db import db

    sqlite = db.dialect == "sqlite"
    seq = numbers_sql(sqlite)
    orgs = args.claims // CLAIMS_PER_ORG
    lines = args.claims * args.lines_per_claim
    org0, rec0, ent0 = next_id("organizations"), next_id("service_records"), next_id("revenue_entries")
    claim0, line0 = next_id("voucher_claims"), next_id("voucher_claim_lines")
    false, ts = ("0", "'2026-03-01 02:00:00.000000'") if sqlite else ("false", "TIMESTAMP '2026-03-01 02:00:00'")
    day = ("date('2026-01-01', '+' || (n % 300) || ' days')" if sqlite
           else "DATE '2026-01-01' + CAST(n % 300 AS integer)")
    uscc = "substr('000000000' || n, -9, 9)" if sqlite else "lpad(CAST(n AS text), 9, '0')"
    p = {"unit": ctx["unit_id"], "instrument": ctx["instrument_id"], "user": ctx["user_id"], "org0": org0,
         "rec0": rec0, "claim0": claim0, "per_org": CLAIMS_PER_ORG * args.lines_per_claim,
         "lpc": args.lines_per_claim}
    statements = [
        ("organizations", orgs,
         "INSERT INTO organizations (id, name, uscc, kind, region_code, dishonest, status, sme_staff_count, "  # noqa: S608
         "sme_annual_revenue_fen, sme_total_assets_fen, tech_sme_no, created_at) SELECT :org0 + n, 'bench ' || "
         "CAST(n AS text), "
         "'91320100B' || " + uscc + ", 'enterprise', '320100', " + false + ", 'verified', 50, "
         "100000000, 100000000, 'T' || CAST(n AS text), " + ts + " FROM (" + seq + ") AS g"),
        ("service_records", lines,
         "INSERT INTO service_records (id, instrument_id, unit_id, organization_id, mode, actual_start, actual_end, "  # noqa: S608
         "start_local_date, effective_minutes, external, fee_fen, fee_basis, operator_id, created_by_id, created_at) "
         "SELECT :rec0 + n, :instrument, :unit, :org0 + n / :per_org, 'machine_time', " + ts + ", " + ts + ", "
         + day + ", 60, " + ("1" if sqlite else "true") + ", 10000 + n % 5000, 'bench', :user, :user, " + ts
         + " FROM (" + seq + ") AS g"),
        ("charges", lines, _entry_sql("'charge'", "10000 + n % 5000", "n", day, seq, ts)),
        ("payments", lines, _entry_sql("'payment'", "10000 + n % 5000", "n", day, seq, ts)),
        ("refunds", lines // 10, _entry_sql("'refund'", "1000", "n * 10", day, seq, ts)),
        ("last year's payments", lines // 7,
         _entry_sql("'payment'", "2000", "n * 7", "date('2025-06-01')" if sqlite else "DATE '2025-06-01'", seq, ts)),
        ("voucher_claims", args.claims,
         "INSERT INTO voucher_claims (id, organization_id, policy_id, year, status, raw_fen, subsidy_fen, trace, "  # noqa: S608
         "created_by_id, created_at, updated_at, submitted_at) SELECT :claim0 + n, :org0 + n / "
         + str(CLAIMS_PER_ORG) + ", :policy, " + str(YEAR) + ", 'submitted', 0, 0, '{}', :user, " + ts + ", " + ts
         + ", " + ts + " FROM (" + seq + ") AS g"),
        ("voucher_claim_lines", lines,
         "INSERT INTO voucher_claim_lines (id, claim_id, service_record_id, reason, eligible_fen, rate_bp, "  # noqa: S608
         "line_subsidy_e4, ledger_entry_ids) SELECT :line0 + n, :claim0 + n / :lpc, :rec0 + n, NULL, 0, "
         "CASE WHEN n % 10 = 0 THEN 7000 ELSE 5000 END, 0, '[]' FROM (" + seq + ") AS g"),
    ]
    p |= {"policy": ctx["policy_id"], "line0": line0}
    began = time.perf_counter()
    for name, total, sql in statements:
        step = 200_000
        for lo in range(0, total, step):
            if lo == 0 and "revenue_entries" in sql:
                p["ent0"] = next_id("revenue_entries")  # ids of this statement: ent0 + n
            params = p | {"lo": lo, "hi": min(lo + step, total)}
            with db.transaction():
                db.session.execute(text(sql), params)
        print(f"  {total:,} {name} ({time.perf_counter() - began:.0f} s)", flush=True)
    if not sqlite:
        with db.transaction():
            for table in ("organizations", "service_records", "revenue_entries", "voucher_claims",
                          "voucher_claim_lines"):
                db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                                        f"(SELECT max(id) FROM {table}))"))
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with db.transaction():
            db.session.execute(text("ANALYZE"))
    ctx |= {"claim0": claim0, "claims": args.claims, "lines": lines, "ent0": ent0}


def _entry_sql(kind: str, amount: str, record: str, day: str, seq: str, ts: str) -> str:
    return ("INSERT INTO revenue_entries (id, service_record_id, unit_id, organization_id, kind, amount_fen, "  # noqa: S608
            "entry_date, entered_by_id, created_at) SELECT :ent0 + n, :rec0 + " + record + ", :unit, :org0 + ("
            + record + ") / :per_org, " + kind + ", " + amount + ", " + day + ", :user, " + ts
            + " FROM (" + seq + ") AS g")


def recompute(policy_id: int, chunk: int) -> dict:
    """Replay the year's claims in submission order with compute.py; returns the totals.

    Per chunk of claims one query returns every line with its ledger entries added up by kind (payments of the
    policy year, refunds, charges net of adjustments); compute.eligible_from_sums applies the amount rule and
    compute_subsidy the rates, the single rounding and the caps with the headroom left by the claims before. The
    next chunk is read on a second connection while this one is computed (the drivers release the GIL meanwhile).
    """
    from concurrent.futures import ThreadPoolExecutor
    from datetime import date

    from sqlalchemy import case, func, select, true

    from instrument_share.db import db
    from instrument_share.ledger.models import RevenueEntry as E
    from instrument_share.vouchers.compute import Headroom, LineInput, PolicyNumbers, compute_subsidy
    from instrument_share.vouchers.compute import eligible_from_sums as amount_of
    from instrument_share.vouchers.models import COMMITTED_STATES, VoucherClaim, VoucherClaimLine, VoucherPolicy

    policy = db.session.get(VoucherPolicy, policy_id)
    numbers = PolicyNumbers.of(policy)
    ids = db.session.scalars(select(VoucherClaim.id).where(VoucherClaim.year == policy.year,
                                                          VoucherClaim.status.in_(COMMITTED_STATES))
                             .order_by(VoucherClaim.submitted_at, VoucherClaim.id)).all()
    db.session.rollback()
    in_year = E.entry_date.between(date(policy.year, 1, 1), date(policy.year, 12, 31))
    fen = E.amount_fen
    sums = [func.coalesce(func.sum(case(((E.kind == "payment") & in_year, fen), else_=0)), 0),
            func.coalesce(func.sum(case((E.kind == "refund", fen), else_=0)), 0),
            func.coalesce(func.sum(case((E.kind == "charge", fen),
                                        ((E.kind == "adjustment") & (E.direction == "debit"), fen),
                                        (E.kind == "adjustment", -fen), else_=0)), 0)]
    line = (VoucherClaimLine.claim_id, VoucherClaimLine.service_record_id, VoucherClaimLine.rate_bp)
    if db.dialect == "postgresql":
        # A lateral sum per line walks the entries' index; a join would make PostgreSQL hash the whole ledger for
        # every chunk.
        per_record = (select(*sums).where(E.service_record_id == VoucherClaimLine.service_record_id)
                      .lateral("per_record"))
        line_sums = select(*line, *per_record.c).join(per_record, true()).order_by(*line[:2])
    else:
        line_sums = (select(*line, *sums).outerjoin(E, E.service_record_id == VoucherClaimLine.service_record_id)
                     .group_by(*line).order_by(*line[:2]))

    def read(lo: int, hi: int):
        with db.engine.connect() as conn:  # plain Core rows: no ORM bookkeeping for a million tuples
            owners = dict(conn.execute(select(VoucherClaim.id, VoucherClaim.organization_id)
                                       .where(VoucherClaim.id.between(lo, hi))).all())
            return owners, conn.execute(line_sums.where(VoucherClaimLine.claim_id.between(lo, hi),
                                                        VoucherClaimLine.reason.is_(None))).all()

    parts = [ids[start:start + chunk] for start in range(0, len(ids), chunk)]
    per_org: dict[int, int] = {}
    year_total = lines_done = capped = 0
    with ThreadPoolExecutor(max_workers=1) as reader:
        pending = reader.submit(read, min(parts[0]), max(parts[0])) if parts else None
        for index, part in enumerate(parts):
            owners, rows = pending.result()
            if index + 1 < len(parts):
                pending = reader.submit(read, min(parts[index + 1]), max(parts[index + 1]))
            by_claim: dict[int, list[LineInput]] = {}
            for claim_id, record_id, rate, paid, refunded, charged in rows:
                by_claim.setdefault(claim_id, []).append(
                    LineInput(record_id, amount_of(int(paid), int(refunded), int(charged)), rate))
            for claim_id in part:
                org_id = owners[claim_id]
                room = Headroom.from_committed(numbers, enterprise_committed_fen=per_org.get(org_id, 0),
                                               group_committed_fen=None, year_committed_fen=year_total)
                trace = compute_subsidy(by_claim.get(claim_id, ()), room, numbers)
                per_org[org_id] = per_org.get(org_id, 0) + trace.subsidy_fen
                year_total += trace.subsidy_fen
                lines_done += len(trace.lines)
                capped += trace.subsidy_fen < trace.raw_fen
    return {"claims": len(ids), "lines": lines_done, "subsidy_fen": year_total, "capped_claims": capped}


def drafts(app, ctx: dict, count: int) -> list[float]:
    from instrument_share.db import db
    from tests import voucher_support as vs
    from tests.factories import Factory

    factory = Factory(app)
    sme = vs.claimant(factory)
    prov = vs.Provider(ctx["unit"], ctx["instrument"])
    records = [vs.record(prov, sme.org, charge=10_000 + i) for i in range(20)]
    body = {"policy_id": ctx["policy_id"], "service_record_ids": [r.id for r in records]}
    client = app.test_client()
    samples = []
    for i in range(count + 5):
        db.session.remove()
        began = time.perf_counter()
        response = client.post("/api/v1/voucher-claims", headers=sme.headers, json=body)
        elapsed = (time.perf_counter() - began) * 1000
        assert response.status_code == 201, response.get_data(as_text=True)
        assert len(response.get_json()["lines"]) == 20
        if i >= 5:  # the first requests warm caches up
            samples.append(elapsed)
    return samples


def run(url: str, work: Path, args) -> None:
    from sqlalchemy import func, select

    from instrument_share.core import clock
    from instrument_share.db import db
    from instrument_share.vouchers.models import VoucherClaimLine
    from tests import voucher_support as vs
    from tests.catalogue_support import civilian_unit, open_since, publish_civilian
    from tests.conftest import FAST_HASH, make_test_app
    from tests.factories import Clock, Factory

    app = make_test_app(url, work, PASSWORD_HASH_METHOD=FAST_HASH, TESTING=False)
    with app.app_context():
        Clock()  # 2026-12-01 in Nanjing: inside the policy's dates
        factory = Factory(app)
        officer = factory.user(factory.org("commission"), ("commission_officer",), totp=True)
        unit = civilian_unit(factory, with_headers=False)
        # Listed through the platform since before the services (measure 19: only those are subsidised).
        instrument = open_since(publish_civilian(unit, service_modes=["machine_time", "sample_testing"]),
                                vs.LISTED_SINCE)
        policy = vs.make_policy(officer, YEAR, budget_fen=3_000_000_000, enterprise_annual_cap_fen=400_000,
                                defence_rate_bp=7000)
        ctx = {"unit": unit, "instrument": instrument, "unit_id": unit.org.id, "instrument_id": instrument.id,
               "user_id": unit.operator.id, "policy_id": policy.id}
        samples = drafts(app, ctx, args.drafts)
        print(f"20-line draft over HTTP before the bulk data (Flask test client, {len(samples)} requests): "
              f"{percentiles(samples)} (target p95 ≤ 50 ms)", flush=True)
        began = time.perf_counter()
        bulk(args, ctx)
        db.session.rollback()
        stored = db.session.scalar(select(func.count()).select_from(VoucherClaimLine))
        print(f"data ready: {ctx['claims']:,} claims, {stored:,} lines ({time.perf_counter() - began:.0f} s)",
              flush=True)
        timings = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            totals = recompute(policy.id, args.chunk)
            timings.append(time.perf_counter() - began)
        print(f"recompute every claim of {YEAR}: {totals['claims']:,} claims, {totals['lines']:,} lines, "
              f"{totals['capped_claims']:,} capped, {totals['subsidy_fen']:,} fen; "
              f"{', '.join(f'{t:.1f} s' for t in timings)} (target ≤ 20 s)", flush=True)
        samples = drafts(app, ctx, args.drafts)
        print(f"20-line draft over HTTP with the year's {ctx['claims']:,} claims (Flask test client, "
              f"{len(samples)} requests): {percentiles(samples)} (target p95 ≤ 50 ms)", flush=True)
        clock.freeze(None)
        db.session.remove()
    db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--lines-per-claim", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=5_000)
    parser.add_argument("--drafts", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file")
    args = parser.parse_args()

    from scratch_database import scratch_database

    with scratch_database("vouchers", keep=args.keep) as (url, work):
        run(url, work, args)


if __name__ == "__main__":
    main()
