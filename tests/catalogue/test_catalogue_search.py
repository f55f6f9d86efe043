"""Catalogue search: Chinese substrings of any length, Latin prefixes, filters, sorts, pagination, bad input, and
that nothing is matched, filtered or sorted on a field the viewer may not see.

The expected result of every text query is computed here from the instruments' own texts (an oracle), so the
search must match exactly where the text contains the query — and not otherwise.
"""

import unicodedata
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from instrument_share.catalogue.fields import SEARCHED_FIELDS
from instrument_share.catalogue.grams import Tokens, index_tokens, parse_query

from ..catalogue_support import call, civilian_unit, defence_unit, publish_defence, values
from ..conftest import BACKEND
from ..factories import login


def spec(**fields) -> dict:
    return fields


CORPUS = {
    "lcms": spec(name_zh="高分辨液相色谱质谱联用仪", name_en="High resolution LC-MS", model="Q Exactive",
                 manufacturer="Thermo Fisher", main_functions="小分子定性定量分析", technical_indicators="分辨率140000",
                 service_content="代测与培训", category_code="0102", district="玄武区",
                 service_modes=["machine_time", "sample_testing"], fee_per_hour_fen=80_000, fee_per_sample_fen=30_000,
                 original_value_fen=350_000_000),
    "icpms": spec(name_zh="电感耦合等离子体质谱仪", name_en="ICP-MS", model="7900", manufacturer="Agilent",
                  main_functions="痕量元素分析", technical_indicators="检出限ppt级", service_content="送样检测",
                  category_code="0102", district="鼓楼区", service_modes=["sample_testing"], fee_per_hour_fen=None,
                  fee_per_sample_fen=15_000, original_value_fen=120_000_000),
    "ftir": spec(name_zh="傅里叶变换红外光谱仪", name_en="FTIR spectrometer", model="Nicolet iS50",
                 manufacturer="赛默飞", main_functions="有机物结构鉴定", technical_indicators="波数范围7800-350",
                 service_content="上机测试", category_code="0104", district="玄武区", service_modes=["machine_time"],
                 fee_per_hour_fen=20_000, fee_per_sample_fen=None, original_value_fen=40_000_000),
    # "液相色谱、谱图分析": the runs 液相色谱 and 谱图分析 must not join into 色谱图 (not in the text).
    "gc": spec(name_zh="气相色谱仪", name_en="Gas chromatograph", model="GC-2030", manufacturer="岛津",
               main_functions="液相色谱、谱图分析", technical_indicators="柱温箱450℃", service_content="送样",
               category_code="0105", district="江宁区", service_modes=["machine_time"], fee_per_hour_fen=30_000,
               fee_per_sample_fen=None, original_value_fen=30_000_000),
    "raman": spec(name_zh="显微共焦拉曼光谱仪", name_en="Confocal Raman", model="LabRAM HR Evolution",
                  manufacturer="Horiba", main_functions="分子振动光谱分析", technical_indicators="光谱分辨率0.3",
                  service_content="法定检测", category_code="0104", district="浦东新区",
                  service_modes=["statutory_testing"], fee_per_hour_fen=5_000, fee_per_sample_fen=None,
                  original_value_fen=90_000_000),
    "utm": spec(name_zh="电子万能材料试验机", name_en="Universal testing machine", model="5982", manufacturer="Instron",
                main_functions="拉伸压缩弯曲试验", technical_indicators="最大载荷100千牛", service_content="委托试验",
                category_code="0201", district="栖霞区", service_modes=["experiment"], fee_per_hour_fen=None,
                fee_per_sample_fen=None, original_value_fen=60_000_000),
}
SHANGHAI = {"raman"}  # owned by a Shanghai research institute; the rest by a Nanjing university


def norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").lower()


@pytest.fixture
def catalogue(factory, client, frozen_clock):
    """Six published civilian instruments (published one minute apart, in CORPUS order) and their ids."""
    nanjing = civilian_unit(factory, name="南京理工测试中心")
    shanghai = civilian_unit(factory, "research_institute", name="上海光谱研究所", region="310100")
    ids = {}
    for key, body in CORPUS.items():
        unit = shanghai if key in SHANGHAI else nanjing
        frozen_clock.move(minutes=1)
        created = call(client, "POST", "/instruments", unit.h("operator"), values(**body))
        assert created.status_code == 201, created.get_json()
        ids[key] = created.get_json()["id"]
        assert call(client, "POST", f"/instruments/{ids[key]}/publish", unit.h("operator")).status_code == 200
    return ids


def found(client, query: str, headers: dict | None = None) -> list[int]:
    response = call(client, "GET", f"/instruments?{query}&per_page=100", headers)
    assert response.status_code == 200, (query, response.get_data(as_text=True))
    body = response.get_json()
    assert body["total"] == len(body["items"])
    return [item["id"] for item in body["items"]]


def found_set(client, query: str, headers: dict | None = None) -> set[int]:
    return set(found(client, query, headers))


def oracle(q: str, ids: dict) -> set[int]:
    """Listings one of whose searched texts contains the (single-run) query."""
    return {ids[key] for key, body in CORPUS.items()
            if any(norm(q) in norm(str(body.get(f) or "")) for f in SEARCHED_FIELDS)}


# ---------------------------------------------------------------- text


HAN_QUERIES = [
    # one character
    "谱", "质", "光", "仪", "析", "鉴", "曼", "龘",
    # two characters: the most common queries
    "质谱", "光谱", "色谱", "谱仪", "红外", "拉曼", "液相", "元素", "谱图", "图分", "谱质", "试验", "分析", "龙虾",
    # three
    "质谱仪", "光谱仪", "色谱质", "色谱仪", "谱图分", "色谱图", "相色谱", "材料试", "分子振",
    # four and more
    "液相色谱", "红外光谱", "色谱质谱", "相色谱质", "痕量元素", "等离子体质谱", "质谱光谱", "高分辨液相色谱质谱联用仪",
]


def test_chinese_substring_of_any_length_matches_exactly_where_the_text_contains_it(client, catalogue):
    wrong = {q: (found_set(client, f"q={q}"), oracle(q, catalogue)) for q in HAN_QUERIES}
    assert {q: got for q, got in wrong.items() if got[0] != got[1]} == {}  # query: (found, expected)


def test_the_oracle_queries_cover_hits_and_misses(catalogue):
    by_length = {n: [q for q in HAN_QUERIES if len(q) == n] for n in (1, 2, 3, 4)}
    for n, queries in by_length.items():
        assert any(oracle(q, catalogue) for q in queries), n
        assert any(not oracle(q, catalogue) for q in queries), n
    assert oracle("色谱图", catalogue) == set()  # would match across the 、 in "液相色谱、谱图分析"


def test_latin_prefixes_and_normalisation(client, catalogue):
    assert found_set(client, "q=agil") == {catalogue["icpms"]}
    assert found_set(client, "q=AGILENT") == {catalogue["icpms"]}
    assert found_set(client, "q=ａｇｉｌ") == {catalogue["icpms"]}  # full-width letters (NFKC)
    assert found_set(client, "q=thermo") == {catalogue["lcms"]}
    assert found_set(client, "q=exact") == {catalogue["lcms"]}
    assert found_set(client, "q=gc-2030") == {catalogue["gc"]}
    assert found_set(client, "q=790") == {catalogue["icpms"]}
    assert found_set(client, "q=spectrometer") == {catalogue["ftir"]}
    assert found_set(client, "q=zzzz") == set()


def test_mixed_queries_need_every_part(client, catalogue):
    assert found_set(client, "q=agilent 质谱") == {catalogue["icpms"]}
    assert found_set(client, "q=质谱 agilent") == {catalogue["icpms"]}
    assert found_set(client, "q=Q Exactive 质谱") == {catalogue["lcms"]}
    assert found_set(client, "q=thermo 光谱") == set()
    assert found_set(client, "q=光谱 拉曼") == {catalogue["raman"]}
    assert found_set(client, "q=光谱，红外") == {catalogue["ftir"]}
    assert found_set(client, "q=ICP质谱") == {catalogue["icpms"]}  # Latin and Han runs of one word
    assert found_set(client, "q=  ") == set(catalogue.values())  # no text condition


def test_relevance_order_and_html_snippet(client, catalogue):
    # Both match 质谱; the HTML page marks the match inside the visible text.
    page = client.get("/instruments?q=质谱").get_data(as_text=True)
    assert "<mark>质谱</mark>" in page
    assert found_set(client, "q=质谱&sort=relevance") == {catalogue["lcms"], catalogue["icpms"]}
    # Relevance puts a match in the name before a match elsewhere, then the newest first.
    assert found(client, "q=液相") == [catalogue["lcms"], catalogue["gc"]]
    assert found(client, "q=液相&sort=newest") == [catalogue["gc"], catalogue["lcms"]]
    assert found(client, "q=光谱") == [catalogue["raman"], catalogue["ftir"]]  # both names; the newest first
    assert found(client, "q=agilent 质谱")[0] == catalogue["icpms"]


# ---------------------------------------------------------------- filters


def test_filters(client, catalogue):
    c = catalogue
    everything = set(c.values())
    assert found_set(client, "category_code=0102") == {c["lcms"], c["icpms"]}
    assert found_set(client, "category_code=01") == everything - {c["utm"]}  # top class by prefix
    assert found_set(client, "category_code=02") == {c["utm"]}
    assert found_set(client, "category_code=0999") == set()
    assert found_set(client, "district=玄武区") == {c["lcms"], c["ftir"]}
    assert found_set(client, "region=3201") == everything - {c["raman"]}
    assert found_set(client, "region=32") == everything - {c["raman"]}
    assert found_set(client, "region=31") == {c["raman"]}
    assert found_set(client, "owner_kind=research_institute") == {c["raman"]}
    assert found_set(client, "owner_kind=university") == everything - {c["raman"]}
    assert found_set(client, "owner_kind=defence_unit") == set()
    assert found_set(client, "service_mode=sample_testing") == {c["lcms"], c["icpms"]}
    assert found_set(client, "service_mode=statutory_testing") == {c["raman"]}
    assert found_set(client, "fee_max_fen=20000") == {c["icpms"], c["ftir"], c["raman"]}
    assert found_set(client, "fee_max_fen=0") == set()
    assert found_set(client, "large=true") == {c["lcms"], c["icpms"], c["raman"], c["utm"]}
    assert found_set(client, "large=false") == {c["ftir"], c["gc"]}
    assert found_set(client, "defence=false") == everything
    assert found_set(client, "defence=true") == set()
    assert found_set(client, "q=光谱&district=玄武区&large=false") == {c["ftir"]}
    assert found_set(client, "q=质谱&service_mode=machine_time&fee_max_fen=100000") == {c["lcms"]}


def test_large_threshold_is_a_setting(app, client, catalogue):
    app.config["LARGE_INSTRUMENT_THRESHOLD_FEN"] = 100_000_000
    assert found_set(client, "large=true") == {catalogue["lcms"], catalogue["icpms"]}
    assert call(client, "GET", f"/instruments/{catalogue['raman']}").get_json()["is_large"] is False


# ---------------------------------------------------------------- sorts and pages


def test_sorts(client, catalogue):
    c = catalogue
    order = list(c)  # published in this order, one minute apart
    assert found(client, "sort=newest") == [c[k] for k in reversed(order)]
    assert found(client, "") == [c[k] for k in reversed(order)]  # without a query, relevance falls back to newest
    by_name = sorted(CORPUS, key=lambda k: CORPUS[k]["name_zh"])
    assert found(client, "sort=name") == [c[k] for k in by_name]
    by_value = sorted(CORPUS, key=lambda k: -CORPUS[k]["original_value_fen"])
    assert found(client, "sort=value") == [c[k] for k in by_value]
    by_fee = sorted(CORPUS, key=lambda k: (CORPUS[k]["fee_per_hour_fen"] is None, CORPUS[k]["fee_per_hour_fen"] or 0,
                                           c[k]))
    assert found(client, "sort=fee") == [c[k] for k in by_fee]


def test_pagination_shape(client, catalogue):
    seen = []
    for page in (1, 2, 3, 4):
        body = call(client, "GET", f"/instruments?per_page=2&page={page}&sort=newest").get_json()
        assert set(body) == {"items", "page", "per_page", "total"}
        assert (body["page"], body["per_page"], body["total"]) == (page, 2, 6)
        seen += [i["id"] for i in body["items"]]
        assert len(body["items"]) == (2 if page <= 3 else 0)
    assert seen == found(client, "sort=newest")
    default = call(client, "GET", "/instruments").get_json()
    assert (default["page"], default["per_page"]) == (1, 20)
    assert call(client, "GET", "/instruments?per_page=100").status_code == 200


BAD_ARGS = ["per_page=101", "per_page=0", "per_page=-1", "page=0", "page=abc", "page=1.5", "fee_max_fen=abc",
            "fee_max_fen=-5", "fee_max_fen=1e3", "fee_max_fen=99999999999999999999", "large=maybe", "defence=2",
            "sort=random", "service_mode=teleport", "owner_kind=spaceship", "page=99999999999999999"]


def test_bad_filter_values_are_422_not_500(client, catalogue):
    for args in BAD_ARGS:
        response = call(client, "GET", f"/instruments?{args}")
        assert response.status_code == 422, (args, response.get_data(as_text=True))
        body = response.get_json()
        assert body["error"] == "validation_failed" and body["fields"], args
        page = client.get(f"/instruments?{args}")
        assert page.status_code == 422 and "text/html" in page.content_type, args
        assert client.get(f"/instruments/export.csv?{args}").status_code == 422, args


ODD_ARGS = ["q=" + "质" * 1000, "q=%25%25_", "q=\"", "q=*", "q=AND OR NOT", "q=near(", "q=:*", "q=(质谱 <-> 谱仪)",
            "q=' or 1=1 --", "q=%E3%80%80", "district=%25", "region=%25", "category_code=%25", "category_code=0_",
            "q=😀", "q=𠀀质谱", "page=1000000", "page=1000000000&per_page=100", "district=" + "区" * 300]


def test_odd_but_valid_input_is_answered(client, catalogue):
    for args in ODD_ARGS:
        response = call(client, "GET", f"/instruments?{args}")
        assert response.status_code == 200, (args, response.get_data(as_text=True))
        assert client.get(f"/instruments?{args}").status_code == 200, args
        assert client.get(f"/instruments/export.csv?{args}").status_code == 200, args


def test_like_wildcards_in_filters_are_literal(client, catalogue):
    assert found_set(client, "district=%25") == set()
    assert found_set(client, "region=%25") == set()
    assert found_set(client, "category_code=%25") == set()
    assert found_set(client, "category_code=0_") == set()


# ---------------------------------------------------------------- visibility


@pytest.fixture
def guarded(factory, client):
    """A defence listing whose review hid or restricted the fields a search, filter or sort could reveal."""
    unit = defence_unit(factory)
    visibility = {"name_zh": "public", "main_functions": "public", "model": "cleared", "service_modes": "cleared",
                  "original_value_fen": "registered", "district": "hidden", "category_code": "hidden",
                  "fee_per_hour_fen": "hidden", "manufacturer": "hidden", "owner_id": "hidden"}
    listing = publish_defence(unit, visibility, name_zh="真空质谱检漏仪", model="ZK9000", manufacturer="某某研究所",
                              main_functions="氦质谱检漏", district="江宁区", category_code="0102", fee_per_hour_fen=1,
                              fee_per_sample_fen=None, original_value_fen=900_000_000,
                              service_modes=["machine_time"], technical_indicators="最小可检漏率", location="秘密地点",
                              name_en="Leak detector")
    sme = factory.user(factory.org("enterprise"), ("sme_user",))
    cleared = factory.user(factory.org("enterprise"), ("sme_user",))
    granted = call(client, "POST", f"/organizations/{unit.org.id}/clearances", unit.h("operator"),
                   {"organization_id": cleared.organization_id, "agreement_version": "V1"})
    assert granted.status_code == 201
    # A second listing whose name is hidden: it sorts as if it had no name.
    nameless = publish_defence(unit, {"model": "public"}, name_zh="保密名称设备", model="AAA1")
    return {"id": listing.id, "nameless": nameless.id, "unit": unit, "sme_user": sme,
            "headers": {"anonymous": {}, "registered": factory.bearer(sme), "cleared": factory.bearer(cleared),
                        "unit": unit.h("operator")}}


def test_search_never_matches_a_field_the_viewer_may_not_see(client, catalogue, guarded):
    i, h = guarded["id"], guarded["headers"]
    everyone, cleared_and_unit, unit_only = (set(h), {"cleared", "unit"}, {"unit"})
    cases = [
        ("q=质谱检漏", everyone),  # name_zh: public
        ("q=zk9000", cleared_and_unit), ("q=ZK", cleared_and_unit),  # model: cleared
        ("q=某某研究所", unit_only), ("q=研究", unit_only),  # manufacturer: hidden
        ("q=最小可检", unit_only),  # technical_indicators: left out, so hidden
        ("q=leak", unit_only),  # name_en: left out
        ("district=江宁区", unit_only), ("category_code=0102", unit_only), ("category_code=01", unit_only),
        ("fee_max_fen=10", unit_only), ("fee_max_fen=1000000000", unit_only),
        ("region=3201", unit_only),  # the owner (and so its region) is hidden
        ("large=true", {"registered", "cleared", "unit"}), ("large=false", set()),
        ("service_mode=machine_time", cleared_and_unit),
        ("defence=true", everyone), ("owner_kind=defence_unit", everyone),
        ("q=检漏&district=江宁区", unit_only),
    ]
    for query, allowed in cases:
        for who, headers in h.items():
            assert (i in found_set(client, query, headers)) == (who in allowed), (query, who)


def test_sorting_ignores_hidden_values(client, catalogue, guarded):
    i, nameless, h = guarded["id"], guarded["nameless"], guarded["headers"]
    for who in ("anonymous", "registered", "cleared"):
        by_fee = found(client, "sort=fee", h[who])
        # Its hidden hourly fee of 1 fen would put it first; hidden, it sorts with the listings without a fee.
        with_fee = [x for x in by_fee if x in {catalogue["lcms"], catalogue["ftir"], catalogue["gc"],
                                               catalogue["raman"]}]
        assert by_fee[:len(with_fee)] == with_fee and by_fee.index(i) >= len(with_fee), who
        by_name = found(client, "sort=name", h[who])
        assert by_name[-1] == nameless, who  # a hidden name sorts last, as if absent
        by_value = found(client, "sort=value", h[who])
        if who == "anonymous":
            assert by_value.index(i) > by_value.index(catalogue["ftir"])  # value hidden: after every known value
        else:
            assert by_value[0] == i  # 9,000,000 yuan is the highest visible value
    assert found(client, "sort=fee", h["unit"])[0] == i


def test_snippets_show_only_visible_text(client, catalogue, guarded):
    page = client.get("/instruments?q=检漏").get_data(as_text=True)
    assert "<mark>检漏</mark>" in page and "某某研究所" not in page and "最小可检漏率" not in page
    assert "ZK9000" not in page and "秘密地点" not in page
    login(client, guarded["sme_user"].username)
    registered = client.get("/instruments?q=检漏").get_data(as_text=True)
    assert "某某研究所" not in registered and "ZK9000" not in registered


def test_facet_counts_follow_visibility(client, catalogue, guarded, factory):
    def district_facet(html: str) -> str:
        return html.split("facets")[1].split("</aside>")[0]

    anonymous = district_facet(client.get("/instruments?district=江宁区").get_data(as_text=True))
    assert '江宁区</a> <span class="count">1</span>' in anonymous  # the civilian gc only
    unit = guarded["unit"]
    login(client, unit.operator.username)
    own = district_facet(client.get("/instruments?district=江宁区").get_data(as_text=True))
    assert '江宁区</a> <span class="count">2</span>' in own


# ---------------------------------------------------------------- the index path agrees with the plain rule


def _plain_sql(viewer, params, sort="newest"):
    """What the plain SQL rule finds (search.entitled, the column filters, the text condition), in a sort order."""
    from instrument_share.catalogue import search as s
    from instrument_share.db import db

    condition = s.text_condition(s.parse_query(params.q))
    stmt = (s.select(s.Row.instrument_id).where(s.entitled(viewer), *s._filters(params),
                                                *([condition] if condition is not None else []))
            .order_by(*s.SORTS[sort]))
    return list(db.session.scalars(stmt))


# PostgreSQL reads the pages of a broad match by a bounded walk (catalogue/search_walk.py): with every match taken
# as broad, the walk answers; with a walk of three rows, most pages fall back to the bitmap. And it counts a query
# without text on the GIN bitmap or on the columns (search.COLUMN_COUNT_SHARE). All must agree.
PAGE_PATHS = {"sqlite": ["index"], "postgresql": ["index", "walk", "short walk", "column count"]}[BACKEND]


def _take_path(monkeypatch, path: str) -> None:
    from instrument_share.catalogue import search, search_walk

    monkeypatch.setattr(search, "COLUMN_COUNT_SHARE", 0.0 if path == "column count" else float("inf"))
    if path in ("index", "column count"):
        monkeypatch.setattr(search, "WALK_MARGIN", float("inf"))  # (a test catalogue is small: no walks)
    else:
        monkeypatch.setattr(search, "DENSE_TOTAL", 0)
    if path == "short walk":
        monkeypatch.setattr(search_walk, "WALK_ROWS", 3)


@pytest.mark.parametrize("path", PAGE_PATHS)
def test_the_index_tags_find_exactly_what_the_visibility_rule_allows(app, client, catalogue, guarded, factory,
                                                                    monkeypatch, path):
    """Entitlement and exact filters are answered from tags in the text index; for every kind of viewer, with
    unpublished, suspended and partly cleared listings present, they find what the SQL rule finds, in the same
    newest-first order and in every other order, page by page (pages of one and two cross listings published in the
    same second)."""
    from dataclasses import replace

    from instrument_share.accounts.models import User
    from instrument_share.catalogue import search as s
    from instrument_share.catalogue.models import Clearance
    from instrument_share.catalogue.visibility import ANONYMOUS, viewer_for
    from instrument_share.db import db

    unit = guarded["unit"]
    draft = call(client, "POST", "/instruments", unit.h("operator"), values(name_zh="未发布质谱仪"))
    assert draft.status_code == 201
    suspended = catalogue["gc"]
    nanjing = db.session.get(s.Instrument, suspended).owner_id
    operator = db.session.scalar(s.select(User).where(User.organization_id == nanjing))
    assert call(client, "POST", f"/instruments/{suspended}/suspend", factory.bearer(operator),
                {"reason": "维修"}).status_code == 200
    viewers = {"anonymous": ANONYMOUS, "registered": viewer_for(guarded["sme_user"]),
               "unit": viewer_for(unit.operator), "approver": viewer_for(unit.approver),
               "civilian owner": viewer_for(operator)}
    viewers["cleared"] = viewer_for(db.session.scalar(s.select(User).where(
        User.organization_id.in_(s.select(Clearance.organization_id)))))
    queries = [s.SearchParams(), s.SearchParams(q="质谱"), s.SearchParams(q="谱"), s.SearchParams(q="检漏"),
               s.SearchParams(q="zk"), s.SearchParams(q="液相色谱"), s.SearchParams(q="光谱 拉曼"),
               s.SearchParams(district="江宁区"), s.SearchParams(category_code="01"),
               s.SearchParams(category_code="0102", q="质谱"), s.SearchParams(region="3201"),
               s.SearchParams(owner_kind="defence_unit"), s.SearchParams(service_mode="machine_time"),
               s.SearchParams(defence=True), s.SearchParams(defence=False, large=True),
               s.SearchParams(fee_max_fen=30_000), s.SearchParams(fee_max_fen=20_000), s.SearchParams(fee_max_fen=0),
               s.SearchParams(large=False), s.SearchParams(q="谱", large=True, fee_max_fen=10**15),
               s.SearchParams(status="suspended"), s.SearchParams(status="draft")]
    _take_path(monkeypatch, path)
    with app.test_request_context():
        for who, viewer in viewers.items():
            for params in queries:
                assert s.indexed_match(viewer, params, s.parse_query(params.q)) is not None
                for sort in ("value", "fee", "name"):
                    in_order = _plain_sql(viewer, params, sort)
                    assert s.search(viewer, replace(params, sort=sort, per_page=100)).instrument_ids == in_order, (
                        who, params, sort)
                    assert [i for page in (1, 2, 3)
                            for i in s.search(viewer, replace(params, sort=sort, page=page, per_page=2)).instrument_ids
                            ] == in_order[:6], (who, params, sort)
                expected = _plain_sql(viewer, params)
                result = s.search(viewer, replace(params, sort="newest", per_page=100))
                assert result.instrument_ids == expected, (who, params)
                assert result.total == len(expected), (who, params)
                for size in (1, 2):
                    paged = [i for page in range(1, len(expected) // size + 2)
                             for i in s.search(viewer, replace(params, sort="newest", page=page,
                                                               per_page=size)).instrument_ids]
                    assert paged == expected, (who, params, size)
        # Some cases must find something, others nothing, or the comparison above proves little.
        assert _plain_sql(viewers["unit"], s.SearchParams(status="draft"))
        assert not _plain_sql(viewers["anonymous"], s.SearchParams(status="draft"))
        assert _plain_sql(viewers["civilian owner"], s.SearchParams(status="suspended")) == [suspended]


def test_odd_filter_values_take_the_plain_path_and_still_answer(app, client, catalogue):
    from instrument_share.catalogue import search as s
    from instrument_share.catalogue.visibility import ANONYMOUS

    with app.test_request_context():
        for params in (s.SearchParams(district="玄武 区"), s.SearchParams(region="32%"),
                       s.SearchParams(category_code="01_")):
            assert s.indexed_match(ANONYMOUS, params, []) is None
            assert s.search(ANONYMOUS, params).total == 0
        assert s.search(ANONYMOUS, s.SearchParams(district="玄武区")).total == 2


# ---------------------------------------------------------------- the gram logic as pure functions


HAN = "质谱仪光色相液图分析"
SEPARATORS = "，、 -()/"
LATIN = "ab1Z"


def fts_match(q: str, tokens: Tokens) -> bool:
    """How FTS5 (phrase and prefix queries) and PostgreSQL (<-> and :*) evaluate parse_query over the tokens."""
    parts = parse_query(q)
    columns = {"uni": tokens.uni.split(), "bi": tokens.bi.split(), "words": tokens.words.split()}
    for part in parts:
        stream = columns[part.column]
        if part.prefix:
            hit = any(t.startswith(part.terms[0]) for t in stream)
        else:
            n = len(part.terms)
            hit = any(tuple(stream[k:k + n]) == part.terms for k in range(len(stream) - n + 1))
        if not hit:
            return False
    return True


texts_strategy = st.lists(st.text(alphabet=HAN + SEPARATORS + LATIN, max_size=14), min_size=1, max_size=3)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=texts_strategy, data=st.data())
def test_every_chinese_substring_matches(texts, data):
    tokens = index_tokens(texts)
    text = data.draw(st.sampled_from(texts))
    assume(text)
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    piece = text[start:end]
    assume(all(ch in HAN for ch in piece))
    assert fts_match(piece, tokens), (texts, piece, tokens)


@st.composite
def query_and_texts(draw):
    """A Chinese query, and texts built from pieces of it, other characters and separators (so near misses such
    as the query split across two runs, "色谱、谱图" for 色谱图, are common)."""
    q = draw(st.text(alphabet=HAN, min_size=1, max_size=5))
    k = draw(st.integers(0, len(q) - 1))
    head, tail = q[:k + 1], q[k:]  # overlapping by one character: joined by a separator they hold no q
    piece = st.one_of(st.just(head), st.just(tail),
                      st.builds(lambda a, b: q[a:b], st.integers(0, len(q)), st.integers(0, len(q))),
                      st.text(alphabet=HAN, max_size=3), st.sampled_from(SEPARATORS),
                      st.text(alphabet=LATIN, min_size=1, max_size=3))
    texts = draw(st.lists(st.lists(piece, max_size=6).map("".join), min_size=1, max_size=3))
    return q, texts


@settings(max_examples=600, deadline=None)
@given(case=query_and_texts())
def test_a_chinese_query_matches_only_where_a_text_contains_it(case):
    q, texts = case
    tokens = index_tokens(texts)
    assert fts_match(q, tokens) == any(q in norm(t) for t in texts), (texts, q, tokens)


@settings(max_examples=300, deadline=None)
@given(texts=texts_strategy, data=st.data())
def test_latin_word_prefixes_match(texts, data):
    tokens = index_tokens(texts)
    words = tokens.words.split()
    assume(words)
    word = data.draw(st.sampled_from(words))
    prefix = word[:data.draw(st.integers(1, len(word)))]
    assert fts_match(prefix.upper(), tokens)


def _in_tagged_range(value: int, low: int, high: int) -> bool:
    from instrument_share.catalogue import search_keys

    def flatten(expr):
        return {expr.value} if expr.op == "tag" else set().union(*(flatten(i) for i in expr.items))

    tags = {search_keys.TAG + t for t in search_keys.range_tags("fv", value)}
    return bool(tags & flatten(search_keys.in_range("fv", low, high)))


@settings(max_examples=500, deadline=None)
@given(value=st.integers(0, 2**42), low=st.integers(0, 2**42), width=st.integers(0, 2**42))
def test_range_tags_match_exactly_the_values_in_the_range(value, low, width):
    high = low + width
    clamped = min(value, 2**40 - 1)  # values past 2**40 fen are tagged as the largest one
    assert _in_tagged_range(value, low, high) == (max(low, 0) <= clamped < min(high, 2**40))


@given(instrument_id=st.integers(1, 2**30 - 1), level=st.sampled_from(["public", "registered", "cleared", "hidden"]),
       published=st.none() | st.datetimes(min_value=datetime(2019, 1, 1), max_value=datetime(2150, 1, 1),
                                          timezones=st.just(UTC)))
def test_a_page_key_names_its_instrument(instrument_id, level, published):
    from instrument_share.catalogue import search_keys

    key = search_keys.sort_key(instrument_id, published, level)
    assert search_keys.instrument_of(key) == instrument_id
    assert search_keys.bucket_floor(key) <= key < search_keys.bucket_floor(key) + (1 << search_keys.BUCKET_BITS)


def test_range_tags_at_the_edges():
    for value, low, high in [(0, 0, 1), (20_000, 0, 20_001), (20_001, 0, 20_001), (50_000_000, 50_000_000, 2**40),
                             (49_999_999, 50_000_000, 2**40), (49_999_999, 0, 50_000_000), (5, 5, 5)]:
        assert _in_tagged_range(value, low, high) == (low <= value < high), (value, low, high)


def test_gram_tokens_of_an_example():
    tokens = index_tokens(["液相色谱、谱图分析", "Agilent 7900"])
    assert tokens.uni.split() == list("液相色谱谱图分析")
    assert {"液相", "色谱", "谱图", "分析"} <= set(tokens.bi.split())
    assert tokens.words.split() == ["agilent", "7900"]
    assert parse_query("质谱") == [parse_query("质谱")[0]] and parse_query("质谱")[0].terms == ("质谱",)
    assert parse_query("质谱仪")[0].terms == ("质谱", "谱仪")
    assert parse_query("质")[0].column == "uni"
    assert parse_query("Agil")[0].prefix and parse_query("Agil")[0].terms == ("agil",)
    assert parse_query("  ，。") == []
