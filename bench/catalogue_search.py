"""Benchmark catalogue search and listing on 50,000 instruments (issue #3): median and p95 of the first page.

Usage: .venv/bin/python bench/catalogue_search.py [--instruments 50000] [--queries 60] [--explain] [--reset]
       [--reuse] [--sqlite-file PATH] [--only sqlite|postgresql]

Generates instruments with realistic Chinese names, models, manufacturers, functions and indicators from word lists
(about 10% defence listings, mostly published, each with its own mix of field visibilities), written directly
through the model and indexed with catalogue.search.reindex in batches. Then, as an anonymous visitor and as a
registered user (an SME), it times the first page (20 items) of one-, two- and four-character Chinese queries and
of plain listings with filters and sorts: both the search service alone and the whole JSON request
(GET /api/v1/instruments, in process). Target: p95 ≤ 50 ms.

Runs on a temporary SQLite file, and also on PostgreSQL when DATABASE_URL names one (an empty database; --reset
empties its public schema first). --reuse measures again on databases this script filled before (the SQLite one
given by --sqlite-file). --explain prints the query plans of one query of each shape (the count and the first
page, as catalogue.search runs them). Prints a table and the load average (the machine may be shared); asserts
nothing about time.
"""

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DISTRICTS = ["玄武区", "秦淮区", "建邺区", "鼓楼区", "浦口区", "栖霞区", "雨花台区", "江宁区", "六合区", "溧水区",
             "高淳区"]
PREFIXES = ["高分辨", "场发射", "全自动", "超高效", "傅里叶变换", "激光共聚焦", "多功能", "便携式", "台式", "高通量",
            "超导", "冷场", "三重四极杆", "飞行时间", "低温", "原位", "双束", "高温", "智能", "超快"]
CORES = [("液相色谱仪", "0105"), ("气相色谱质谱联用仪", "0102"), ("液相色谱质谱联用仪", "0102"),
         ("扫描电子显微镜", "0101"), ("透射电子显微镜", "0101"), ("X射线衍射仪", "0103"), ("X射线荧光光谱仪", "0103"),
         ("核磁共振波谱仪", "0106"), ("红外光谱仪", "0104"), ("拉曼光谱仪", "0104"), ("原子吸收光谱仪", "0104"),
         ("电感耦合等离子体质谱仪", "0102"), ("紫外可见分光光度计", "0104"), ("离子色谱仪", "0105"),
         ("流式细胞仪", "0110"), ("荧光定量PCR仪", "0110"), ("万能材料试验机", "0201"), ("热重分析仪", "0109"),
         ("差示扫描量热仪", "0109"), ("比表面积分析仪", "0199"), ("激光粒度分析仪", "0199"), ("元素分析仪", "0199"),
         ("电化学工作站", "0107"), ("原子力显微镜", "0108"), ("激光共聚焦显微镜", "0108"), ("疲劳试验机", "0201"),
         ("三坐标测量机", "0202"), ("振动台", "0204"), ("高效液相色谱仪", "0105"), ("质谱成像系统", "0102")]
MAKERS = ["Agilent", "Thermo Fisher", "岛津", "日立高新", "Bruker", "Waters", "赛默飞世尔", "布鲁克", "蔡司",
          "牛津仪器", "PerkinElmer", "Malvern", "梅特勒托利多", "安捷伦", "天美", "聚光科技", "国仪量子", "Instron",
          "耐驰", "麦克默瑞提克", "Horiba", "JEOL", "FEI", "Leica", "Bio-Rad", "Beckman Coulter", "禾信仪器"]
FUNCTIONS = ["定性定量分析", "痕量元素检测", "表面形貌观察", "晶体结构分析", "分子结构鉴定", "热稳定性测试",
             "力学性能测试", "成分分析", "粒径分布测定", "比表面积与孔径分析", "蛋白质组学研究", "代谢组学分析",
             "药物杂质鉴定", "环境污染物筛查", "食品安全检测", "材料失效分析", "细胞分选与计数", "基因表达定量",
             "薄膜厚度测量", "微区成分分析", "相变温度测定", "振动与冲击试验", "尺寸与形位公差测量"]
INDICATORS = ["分辨率{a}纳米", "质量精度{a}ppm", "放大倍数{b}倍", "检出限{a}ppb", "波长范围{c}-{d}纳米",
              "最大载荷{c}千牛", "温度范围室温至{d}℃", "扫描速度{c}次每秒", "灵敏度{c}比1", "重复性优于{a}%"]
SERVICES = ["上机测试", "送样检测", "技术培训", "方法开发", "数据分析", "委托试验", "法定检测"]
MODES = ["machine_time", "sample_testing", "experiment", "statutory_testing"]
LEVELS = ["public", "registered", "cleared", "hidden"]

QUERIES = {
    "1 char": ["仪", "谱", "光", "析", "质", "镜", "热", "色", "电", "测", "微", "磁"],
    "2 chars": ["质谱", "光谱", "色谱", "电镜", "显微", "分析", "射线", "热重", "核磁", "拉曼", "红外", "液相", "元素",
                "粒度", "材料"],
    "4 chars": ["液相色谱", "电子显微", "核磁共振", "红外光谱", "拉曼光谱", "热重分析", "元素分析", "材料试验",
                "晶体结构", "等离子体", "扫描电子", "痕量元素"],
}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def make_app(url: str):
    import gc

    from instrument_share import create_app

    app = create_app({"SECRET_KEY": "bench", "DATABASE_URL": url, "TESTING": True, "SERVER_NAME": "localhost"})
    gc.freeze()  # as wsgi.py does for the served app: full collections leave the start-up objects out
    return app


def migrate(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    root = Path(__file__).resolve().parent.parent / "migrations"
    cfg = Config(str(root / "alembic.ini"))
    cfg.set_main_option("script_location", str(root))
    cfg.attributes.update(database_url=url, skip_logging=True)
    command.upgrade(cfg, "head")


def already_filled(url: str) -> bool:
    from sqlalchemy import create_engine, inspect, text

    from instrument_share.db import normalise_url

    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            if "instruments" not in inspect(conn).get_table_names():
                return False
            return bool(conn.execute(text("SELECT count(*) FROM instruments")).scalar())
    finally:
        engine.dispose()


def prepare_postgres(url: str, reset: bool) -> None:
    from sqlalchemy import create_engine, inspect, text

    from instrument_share.db import normalise_url

    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:
        if reset:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        elif inspect(conn).get_table_names():
            sys.exit(f"{url} is not empty: give --reset to empty its public schema first")
    engine.dispose()


def uscc(n: int, region: str) -> str:
    from instrument_share.core.uscc import check_character

    first17 = f"12{region}MB{n:07d}"
    return first17 + check_character(first17)


def generate(count: int, batch: int, rng: random.Random) -> dict:
    """Organisations, then instruments in batches of `batch` (each batch one transaction, reindexed)."""
    from sqlalchemy import text

    from instrument_share.accounts.models import Organization, RoleGrant, User
    from instrument_share.catalogue import search
    from instrument_share.catalogue.fields import RESTRICTABLE
    from instrument_share.catalogue.models import Instrument
    from instrument_share.core.clock import now_utc
    from instrument_share.db import db

    orgs: dict[str, list[Organization]] = {"civilian": [], "defence": []}
    with db.transaction():
        n = 0
        authorities = []
        for i in range(3):
            n += 1
            org = Organization(name=f"国防科技工业主管部门{i + 1}", uscc=uscc(n, "320100"), kind="authority",
                               region_code="320100", status="verified", verified_at=now_utc())
            authorities.append(org)
        db.session.add_all(authorities)
        db.session.flush()
        regions = ["320102", "320104", "320105", "320106", "320111", "320113", "320114", "320115", "320200",
                   "320500", "310104", "330106", "340104"]
        for i in range(400):
            n += 1
            kind = rng.choice(["university", "university", "research_institute", "key_lab"])
            region = rng.choice(regions)
            orgs["civilian"].append(Organization(name=f"测试提供单位{i + 1}", uscc=uscc(n, region), kind=kind,
                                                 region_code=region, status="verified", verified_at=now_utc()))
        for i in range(40):
            n += 1
            orgs["defence"].append(Organization(name=f"军工研究所{i + 1}", uscc=uscc(n, "320100"),
                                                kind="defence_unit", region_code="320100", status="verified",
                                                superior_id=rng.choice(authorities).id, verified_at=now_utc()))
        n += 1
        sme = Organization(name="南京某科技有限公司", uscc=uscc(n, "320100"), kind="enterprise", region_code="320100",
                           status="verified", verified_at=now_utc())
        db.session.add_all([*orgs["civilian"], *orgs["defence"], sme])
        db.session.flush()
        user = User(username="bench_sme", email="bench@example.cn", password_hash="!unusable",  # noqa: S106
                    organization_id=sme.id)
        db.session.add(user)
        db.session.flush()
        db.session.add(RoleGrant(user_id=user.id, role="sme_user"))
    user_id = user.id

    started = time.perf_counter()
    base_day = datetime(2024, 1, 1, tzinfo=UTC)
    made = 0
    while made < count:
        with db.transaction():
            instruments = []
            for _ in range(min(batch, count - made)):
                made += 1
                defence = rng.random() < 0.10
                owner = rng.choice(orgs["defence" if defence else "civilian"])
                core, category = rng.choice(CORES)
                name = rng.choice(PREFIXES) + core if rng.random() < 0.7 else core
                value_yuan = int(10 ** rng.uniform(5, 7.3))
                modes = rng.sample(MODES, rng.randint(1, 3))
                roll = rng.random()
                status = "published" if roll < 0.9 else "draft" if roll < 0.95 else "suspended"
                instrument = Instrument(
                    owner=owner, status=status, name_zh=name, name_en=f"{core} instrument {made}",
                    model=f"{rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}{rng.choice('ABXYZ')}-{rng.randint(100, 9999)}",
                    manufacturer=rng.choice(MAKERS), country=rng.choice(["中国", "美国", "日本", "德国", "英国"]),
                    serial_no=f"SN{made:08d}", purchase_date=date(2005, 1, 1) + timedelta(days=rng.randint(0, 7000)),
                    original_value_fen=value_yuan * 100, category_code=category,
                    location=f"南京市{rng.choice(DISTRICTS)}某路{rng.randint(1, 300)}号",
                    district=rng.choice(DISTRICTS),
                    technical_indicators="，".join(rng.choice(INDICATORS).format(
                        a=round(rng.uniform(0.1, 5), 1), b=rng.randint(10, 1_000_000), c=rng.randint(10, 900),
                        d=rng.randint(900, 3000)) for _ in range(3)),
                    main_functions="、".join(rng.sample(FUNCTIONS, 3)),
                    service_content="、".join(rng.sample(SERVICES, 2)),
                    service_modes=",".join(m for m in MODES if m in modes),
                    fee_per_hour_fen=rng.randint(50, 2000) * 100 if rng.random() < 0.7 else None,
                    fee_per_sample_fen=rng.randint(50, 1500) * 100 if rng.random() < 0.6 else None,
                    contact=f"联系人{made % 97} 025-{rng.randint(10000000, 99999999)}",
                    published_at=base_day + timedelta(minutes=made) if status != "draft" else None)
                if defence:
                    instrument.field_visibility = json.dumps(
                        {f: rng.choice(LEVELS) for f in RESTRICTABLE if rng.random() < 0.85} | {"name_zh": "public"})
                    instrument.approval_no = f"科工批〔2026〕{made}号"
                    instrument.approved_on, instrument.valid_until = date(2026, 6, 1), date(2027, 6, 1)
                instruments.append(instrument)
            db.session.add_all(instruments)
            db.session.flush()
            for instrument in instruments:
                search.reindex(instrument)
        db.session.expunge_all()
        if made % 10_000 == 0 or made == count:
            print(f"  {made:,} instruments ({time.perf_counter() - started:.0f} s)", flush=True)
    with db.transaction() as session:
        session.execute(text("ANALYZE"))  # fresh planner statistics, as a maintained database has
    if db.dialect == "postgresql":  # and a visibility map (autovacuum keeps one), so counts need no heap reads
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE instrument_search"))
    return {"user_id": user_id}


def shapes(n: int) -> dict[str, list[dict]]:
    """The same queries every run (their own seed), whether the data was generated now or before."""
    rng = random.Random(7)
    out = {name: [{"q": rng.choice(words)} for _ in range(n)] for name, words in QUERIES.items()}
    filters = []
    for _ in range(n):
        args = {}
        for key, choices in (("category_code", ["01", "0102", "0104", "02", "0101"]), ("district", DISTRICTS),
                             ("service_mode", MODES), ("large", ["true", "false"]), ("defence", ["true", "false"]),
                             ("fee_max_fen", ["20000", "50000", "100000"]), ("region", ["3201", "32", "31"]),
                             ("owner_kind", ["university", "research_institute", "defence_unit"])):
            if rng.random() < 0.3:
                args[key] = rng.choice(choices)
        args["sort"] = rng.choice(["newest", "newest", "fee", "value", "name"])
        filters.append(args)
    out["list + filters"] = filters
    return out


def forget_totals(app) -> None:
    """Drop the totals this process remembers (catalogue/search_counts.py), so the next query counts."""
    app.extensions.pop("search_totals", None)


def existing_user() -> dict:
    from sqlalchemy import select

    from instrument_share.accounts.models import User
    from instrument_share.db import db

    return {"user_id": db.session.scalar(select(User.id).where(User.username == "bench_sme"))}


def run(url: str, args, reuse: bool = False) -> list[tuple]:
    from urllib.parse import urlencode

    from sqlalchemy import select

    from instrument_share.accounts.models import User
    from instrument_share.api.catalogue import search_params_from_args
    from instrument_share.catalogue.search import search
    from instrument_share.catalogue.visibility import ANONYMOUS, viewer_for
    from instrument_share.db import db

    rng = random.Random(20261201)
    app = make_app(url)
    backend = "postgresql" if url.startswith("postgres") else "sqlite"
    rows = []
    with app.app_context():
        if reuse:
            print(f"{backend}: measuring on the instruments generated before", flush=True)
            generated = existing_user()
        else:
            print(f"{backend}: generating {args.instruments:,} instruments …", flush=True)
            generated = generate(args.instruments, args.batch, rng)
        from instrument_share.accounts import tokens

        with db.transaction():
            user = db.session.get(User, generated["user_id"])
            _token, secret = tokens.create_token(user, "bench")
        registered = viewer_for(db.session.scalar(select(User).where(User.id == generated["user_id"])))
        client = app.test_client()
        viewers = {"anonymous": (ANONYMOUS, {}), "registered": (registered, {"Authorization": f"Bearer {secret}"})}
        for shape, cases in shapes(args.queries).items():
            for who, (viewer, headers) in viewers.items():
                service_ms, api_ms, warm_ms, totals = [], [], [], []
                for case in [cases[0], *cases]:  # the first call warms the process and is not counted
                    query = urlencode(case | {"page": 1, "per_page": 20})
                    forget_totals(app)  # cold: the total is counted, as for a query not asked since a change
                    with app.test_request_context(f"/api/v1/instruments?{query}"):
                        params = search_params_from_args()
                        start = time.perf_counter()
                        result = search(viewer, params)
                        service_ms.append((time.perf_counter() - start) * 1000)
                    db.session.rollback()
                    forget_totals(app)
                    for timings in (api_ms, warm_ms):  # cold, then asked again (PostgreSQL remembers the total)
                        start = time.perf_counter()
                        response = client.get(f"/api/v1/instruments?{query}", headers=headers)
                        timings.append((time.perf_counter() - start) * 1000)
                        assert response.status_code == 200, response.get_data(as_text=True)
                        assert response.get_json()["total"] == result.total
                    totals.append(result.total)
                service_ms, api_ms, warm_ms, totals = service_ms[1:], api_ms[1:], warm_ms[1:], totals[1:]
                rows.append((backend, who, shape, len(api_ms), statistics.median(service_ms),
                             percentile(service_ms, 0.95), statistics.median(api_ms), percentile(api_ms, 0.95),
                             statistics.median(warm_ms), percentile(warm_ms, 0.95), int(statistics.mean(totals))))
                print(f"  {shape:15} {who:10} done", flush=True)
        if args.explain:
            explain(backend, registered)
    from instrument_share.db import db as database

    database.session.remove()
    database.engine.dispose()
    return rows


def explain(backend: str, viewer) -> None:
    """The plans of the count and of the first page for one query of each shape."""
    from sqlalchemy import text

    from instrument_share.catalogue import search as s
    from instrument_share.catalogue import search_pages as pages
    from instrument_share.db import db

    for label, params in (("1 char", s.SearchParams(q="谱")), ("2 chars", s.SearchParams(q="质谱")),
                          ("4 chars", s.SearchParams(q="液相色谱")),
                          ("list", s.SearchParams(district="玄武区", sort="fee")),
                          ("list newest", s.SearchParams(large=True, sort="newest"))):
        parts = s.parse_query(params.q)
        match = s.indexed_match(viewer, params, parts)
        if parts:
            match = match.in_tier(parts[0], True)
        key = pages._key_column()
        order = s.SORTS[params.sort] if params.sort in ("fee", "value", "name") else (key.desc(),)
        page_columns = (s.Row.sort_key,) if params.sort in ("fee", "value", "name") else (key,)
        for name, stmt in (("count", pages._keys_select(match, pages.func.count())),
                           ("page", pages._keys_select(match, *page_columns).order_by(*order).limit(20))):
            compiled = stmt.compile(db.engine, compile_kwargs={"literal_binds": True})
            prefix = "EXPLAIN QUERY PLAN " if backend == "sqlite" else "EXPLAIN ANALYZE "
            plan = db.session.execute(text(prefix + str(compiled))).all()
            print(f"\n-- {backend} {label} {name}")
            for row in plan:
                print("   ", row[-1] if backend == "sqlite" else row[0])
        db.session.rollback()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instruments", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--reset", action="store_true", help="empty the PostgreSQL database's public schema first")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--reuse", action="store_true", help="measure again on databases filled before")
    parser.add_argument("--sqlite-file", help="the SQLite file to fill (or, with --reuse, to measure again)")
    args = parser.parse_args()
    if args.queries < 50:
        parser.error("--queries must be at least 50")
    targets = []
    if args.only != "postgresql":
        path = args.sqlite_file or f"{tempfile.mkdtemp(prefix='bench-catalogue-')}/bench.sqlite3"
        targets.append(f"sqlite:///{path}")
    pg = os.environ.get("DATABASE_URL", "")
    if pg.startswith("postgres") and args.only != "sqlite" and not (args.reuse and already_filled(pg)):
        prepare_postgres(pg, args.reset)
    if pg.startswith("postgres") and args.only != "sqlite":
        targets.append(pg)
    rows = []
    for url in targets:
        reuse = args.reuse and already_filled(url)
        if not reuse:
            migrate(url)
        rows += run(url, args, reuse)
    loadavg = Path("/proc/loadavg")
    load = " ".join(loadavg.read_text().split()[:3]) if loadavg.exists() else "?"
    print("\nFirst page (20 items), milliseconds; service = catalogue.search.search alone, "
          "api = GET /api/v1/instruments in process; cold = the total counted (no remembered total), "
          "warm = the same request again (PostgreSQL remembers totals per search generation; SQLite always counts); "
          f"target p95 ≤ 50 ms, flagged on the cold API p95; load average (1, 5, 15 min) {load}")
    header = (f"{'backend':10} {'viewer':10} {'shape':15} {'n':>3} {'service p50':>11} {'service p95':>11} "
              f"{'api p50':>8} {'api p95':>8} {'warm p50':>8} {'warm p95':>8} {'hits':>7}")
    print(header)
    print("-" * len(header))
    for backend, who, shape, n, sp50, sp95, ap50, ap95, wp50, wp95, hits in rows:
        flag = "" if ap95 <= 50 else "  > target"
        print(f"{backend:10} {who:10} {shape:15} {n:>3} {sp50:>11.1f} {sp95:>11.1f} {ap50:>8.1f} {ap95:>8.1f} "
              f"{wp50:>8.1f} {wp95:>8.1f} {hits:>7,}{flag}")


if __name__ == "__main__":
    main()
