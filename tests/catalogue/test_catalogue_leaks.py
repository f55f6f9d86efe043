"""THE LEAK TEST (issue #3, "Done when"): nothing beyond what the confidentiality review cleared is ever shown.

A unique marker is planted in every restricted field (catalogue.fields.RESTRICTABLE; for owner_id, in the owning
unit's name) of several defence listings: approved with partial clearance (three mixes of public / registered /
cleared / hidden / left out), approved with a pending revision (markers in the revision's changes), in review, a
draft after a failed review, suspended, revoked and retired. Review comments, status reasons and approval numbers
carry markers too. Then EVERY GET route of the application — taken from app.url_map, with real ids filled in, so a
route added later is covered without touching this file — and a set of searches and filters are requested as an
anonymous visitor, an sme_user of an uncleared organisation, an operator of another defence unit (same superior
authority) and a user of an organisation every planted unit has cleared. Bodies (JSON decoded, XLSX unzipped),
headers and error pages must not show a marker the viewer may not see, and JSON instrument objects must hold only
the keys the viewer may see; while the markers the viewer may see do show (so the test can fail), and searches for
each marker find its listing exactly when the viewer may see the field.

Values that cannot hold text are planted as unique values with every rendering checked: money as fen, yuan and
¥-formatted yuan; dates in ISO form; the category as a marker category (code and names; the category table itself
is public reference data, so the category drop-down and the category list are not scanned for it); service_modes,
a set of fixed words, is checked through the JSON keys and the service_mode filter.
"""

import io
import itertools
import json
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote_plus

import pytest
from sqlalchemy import select
from werkzeug.routing import AnyConverter, IntegerConverter

from instrument_share.catalogue import defence, listings, resources
from instrument_share.catalogue.fields import (
    ALWAYS_VISIBLE,
    FIELD_NAMES,
    FIELDS_BY_NAME,
    LEVEL_ORDER,
    RESTRICTABLE,
    SEARCHED_FIELDS,
    Visibility,
)
from instrument_share.catalogue.models import InstrumentCategory
from instrument_share.core.clock import local_today
from instrument_share.db import Base, db

from ..catalogue_support import Unit, call, civilian_unit, defence_unit, values
from ..factories import login

CYCLE = ("public", "registered", "cleared", "hidden", None)  # None: left out of field_visibility, so hidden
VIEWER_LEVELS = {"anonymous": "public", "sme_user": "registered", "other_operator": "registered",
                 "cleared_user": "cleared"}
MISSING_ID = 987_654_321


# ---------------------------------------------------------------- markers


@dataclass
class Marker:
    """One planted value: it is shown when any needle appears; `queries` find it (and nothing else) by search."""

    listing: str
    name: str
    needles: tuple[str, ...]
    queries: tuple[str, ...] = ()
    kind: str = "field"  # field | owner | category | internal (never shown outside the unit and its approvers)


class MarkerFactory:
    def __init__(self):
        self._han = itertools.count(0x3400)  # CJK extension A: rare characters, so every bigram is unique
        self._numbers = itertools.count(1)

    def han(self, n: int = 4) -> str:
        return "".join(chr(next(self._han)) for _ in range(n))

    def text(self, tag: str, listing: str, name: str, kind: str = "field") -> tuple[str, Marker]:
        latin, han = f"LEAK{tag}X", self.han()
        queries = (han[0:2], han[1:3], han[3], latin.lower())
        return latin + han, Marker(listing, name, (latin, han), queries, kind)

    def fen(self, listing: str, name: str) -> tuple[int, Marker]:
        value = 7_100_000_000_000 + next(self._numbers) * 1_000_003
        # fen, yuan, and yuan without decimals; thousands separators are dropped when scanning (¥71,000,010,000.03)
        needles = (str(value), f"{value // 100}.{value % 100:02d}", str(value // 100))
        return value, Marker(listing, name, needles)

    def day(self, listing: str, name: str) -> tuple[str, Marker]:
        value = (date(1901, 1, 1) + timedelta(days=next(self._numbers) * 37)).isoformat()
        return value, Marker(listing, name, (value,))

    def category(self, listing: str, name: str) -> tuple[str, Marker, dict]:
        n = next(self._numbers)
        parent = f"Q{chr(ord('A') + n % 26)}"  # a top class of its own (two characters, like 01)
        code = f"{parent}LK{n:03d}"
        latin_sub, han_sub, latin_top, han_top = f"LEAKcat{n}X", self.han(), f"LEAKtop{n}X", self.han()
        rows = {"parent": (parent, latin_top + han_top, latin_top), "code": (code, latin_sub + han_sub, latin_sub)}
        return code, Marker(listing, name, (code, latin_sub, han_sub, latin_top, han_top), kind="category"), rows


def planted_values(markers: MarkerFactory, listing: str, tag: str) -> tuple[dict, dict[str, Marker], list[dict]]:
    """A full set of instrument values, each a marker; and the categories to create first."""
    body, found, categories = {}, {}, []
    for name in FIELD_NAMES:
        kind = FIELDS_BY_NAME[name].kind
        if kind in ("text", "longtext"):
            body[name], found[name] = markers.text(f"{tag}{name}", listing, name)
        elif kind == "fen":
            body[name], found[name] = markers.fen(listing, name)
        elif kind == "date":
            body[name], found[name] = markers.day(listing, name)
        elif kind == "category":
            body[name], found[name], rows = markers.category(listing, name)
            categories.append(rows)
        elif kind == "modes":
            body[name] = ["sample_testing", "statutory_testing"]
            found[name] = Marker(listing, name, ())
    return body, found, categories


def create_categories(rows: list[dict]) -> None:
    with db.transaction():
        for row in rows:
            parent_code, parent_zh, parent_en = row["parent"]
            if db.session.get(InstrumentCategory, parent_code) is None:
                db.session.add(InstrumentCategory(code=parent_code, parent_code=None, name_zh=parent_zh,
                                                  name_en=parent_en, is_active=True))
                db.session.flush()
            code, name_zh, name_en = row["code"]
            db.session.add(InstrumentCategory(code=code, parent_code=parent_code, name_zh=name_zh, name_en=name_en,
                                              is_active=True))


# ---------------------------------------------------------------- the planted world


@dataclass
class Planted:
    key: str
    unit: Unit
    instrument_id: int
    published: bool
    visibility: dict[str, str]
    markers: dict[str, Marker]  # the approved (or only) version's fields, owner_id included
    internal: list[Marker] = field(default_factory=list)  # revision changes, comments, reasons, approval numbers

    def level_of(self, name: str) -> str:
        return self.visibility.get(name) or "hidden"

    def shows(self, name: str, level: str) -> bool:
        return self.published and LEVEL_ORDER[Visibility(self.level_of(name))] <= LEVEL_ORDER[Visibility(level)]

    def allowed_keys(self, level: str) -> set[str]:
        shown = {name for name in RESTRICTABLE if self.shows(name, level)}
        return set(ALWAYS_VISIBLE) | shown | ({"is_large"} if "original_value_fen" in shown else set())


def mix(offset: int, owner: str) -> dict[str, str]:
    visibility = {}
    for index, name in enumerate(FIELD_NAMES):
        level = CYCLE[(index + offset) % len(CYCLE)]
        if level is not None:
            visibility[name] = level
    visibility["owner_id"] = owner
    return visibility


def _actor_on(instrument):
    def act(fn, **kwargs):
        with db.transaction():
            return fn(instrument=db.session.merge(instrument), **kwargs)

    return act


def _internal_text(markers: MarkerFactory, key: str, internal: list):
    def text(tag: str, name: str) -> str:
        value, marker = markers.text(f"{key}{tag}", key, name, kind="internal")
        internal.append(marker)
        return value

    return text


@dataclass
class World:
    planted: list[Planted]
    civilian_ids: list[int]
    viewers: dict[str, dict]  # name → {"client", "headers", "user"}
    owner_markers: dict[int, Marker]  # unit id → marker of its name


def build_world(factory, app) -> World:
    markers = MarkerFactory()
    authority = factory.org("authority", name="国防科技工业主管部门")
    planted: list[Planted] = []
    all_categories: list[dict] = []
    plan = [  # key, state, visibility of the approved version
        ("approved_a", "published", mix(0, "cleared")),
        ("approved_b", "published", mix(1, "public")),
        ("approved_c", "published", mix(2, "hidden")),
        ("revised", "revision", mix(3, "registered")),
        ("in_review", "in_review", mix(4, "public")),
        ("failed_draft", "draft", {}),
        ("suspended", "suspended", mix(0, "public")),
        ("revoked", "revoked", mix(1, "public")),
        ("retired", "retired", mix(2, "public")),
    ]
    prepared = []
    for key, state, visibility in plan:
        body, found, categories = planted_values(markers, key, key)
        all_categories += categories
        unit_name, owner_marker = markers.text(f"{key}owner_id", key, "owner_id", kind="owner")
        found["owner_id"] = owner_marker
        prepared.append((key, state, visibility, body, found, unit_name))
    create_categories(all_categories)

    revision_categories = []
    for key, state, visibility, body, found, unit_name in prepared:
        unit = defence_unit(factory, authority=authority, name=unit_name, with_headers=False)
        with db.transaction():
            instrument = listings.create_instrument(actor=unit.operator, values=body)
        iid = instrument.id
        internal: list[Marker] = []
        act = _actor_on(instrument)
        text = _internal_text(markers, key, internal)

        act(defence.submit, actor=unit.operator)
        if state == "draft":
            act(defence.review, actor=unit.reviewer, passed=False, field_visibility=None,
                comment=text("comment", "review_comment"))
        else:
            act(defence.review, actor=unit.reviewer, passed=True, field_visibility=visibility,
                comment=text("comment", "review_comment"))
            if state != "in_review":
                act(defence.approve, actor=unit.approver, approval_no=text("approval", "approval_no"))
        if state == "revision":
            changes, revision_markers, categories = planted_values(markers, key, f"{key}rev_")
            create_categories(categories)
            revision_categories += categories
            for marker in revision_markers.values():
                marker.kind = "internal"
            internal += [m for m in revision_markers.values() if m.needles]
            act(listings.update_instrument, actor=unit.operator, values=changes)
            act(defence.submit, actor=unit.operator)
            act(defence.review, actor=unit.reviewer, passed=True, field_visibility=dict.fromkeys(RESTRICTABLE,
                                                                                                  "public"),
                comment=text("revcomment", "revision_comment"))
        elif state == "suspended":
            act(listings.suspend, actor=unit.operator, reason=text("reason", "status_reason"))
        elif state == "revoked":
            act(defence.revoke, actor=unit.approver, reason=text("reason", "status_reason"))
        elif state == "retired":
            act(listings.retire, actor=unit.operator)
        published = state in ("published", "revision")
        planted.append(Planted(key, unit, iid, published, visibility, found, internal))

    # Another defence unit under the same authority, and civilian listings around the planted ones.
    other = defence_unit(factory, authority=authority, with_headers=False)
    university = civilian_unit(factory, with_headers=False)
    civilian_ids = []
    for name in ("液相色谱质谱联用仪", "场发射扫描电子显微镜", "X射线衍射仪"):
        with db.transaction():
            instrument = listings.create_instrument(actor=university.operator, values=values(name_zh=name))
            listings.publish(actor=university.operator, instrument=instrument)
        civilian_ids.append(instrument.id)

    # Users: an SME (registered), a user of an organisation every planted unit cleared, another unit's operator.
    sme = factory.user(factory.org("enterprise", name="南京某科技有限公司"), ("sme_user",))
    cleared_org = factory.org("enterprise", name="南京已签保密协议公司")
    cleared = factory.user(cleared_org, ("sme_user",))
    from instrument_share.catalogue import clearances

    for p in planted:
        with db.transaction():
            clearances.grant(actor=p.unit.operator, unit=db.session.merge(p.unit.org), organization_id=cleared_org.id,
                             agreement_version="保密协议2026")

    # Other objects for the routes: resources linking planted listings, and bookings.
    by_key = {p.key: p for p in planted}
    for key, linked in (("approved_a", ["approved_a", "in_review"]), ("approved_c", ["approved_c"]),
                        ("revised", ["revised"])):
        unit = by_key[key].unit
        ids = [by_key[k].instrument_id for k in linked if by_key[k].unit is unit]
        with db.transaction():
            resources.create(actor=unit.operator, values={"kind": "national_key_lab", "name_zh": f"重点实验室{key}",
                                                          "instrument_ids": ids})
    with db.transaction():
        resources.create(actor=university.operator, values={"kind": "testing_centre", "name_zh": "分析测试中心",
                                                            "instrument_ids": civilian_ids})

    people = {"anonymous": None, "sme_user": sme, "other_operator": other.operator, "cleared_user": cleared}
    viewers = {}
    for name, user in people.items():
        client = app.test_client()
        headers = {}
        if user is not None:
            assert login(client, user.username).status_code == 302, name
            headers = factory.bearer(user)
        viewers[name] = {"client": client, "headers": headers, "user": user}

    # A booking of a planted listing by the cleared user, and of a civilian one by the SME (once bookings exist).
    wanted_by = (local_today() + timedelta(days=20)).isoformat()
    can_book = any(r.rule == "/api/v1/bookings" and "POST" in r.methods for r in app.url_map.iter_rules())
    for viewer, iid in (("cleared_user", by_key["approved_a"].instrument_id), ("sme_user", civilian_ids[0])):
        if can_book:
            booked = call(viewers[viewer]["client"], "POST", "/bookings", viewers[viewer]["headers"],
                          {"instrument_id": iid, "mode": "sample_testing", "samples": 3, "wanted_by": wanted_by})
            assert booked.status_code == 201, booked.get_data(as_text=True)

    owner_markers = {p.unit.org.id: p.markers["owner_id"] for p in planted}
    return World(planted, civilian_ids, viewers, owner_markers)


# ---------------------------------------------------------------- routes


STRING_ARGUMENTS = {"token": ["no-such-token-0000"], "role": ["sme_user"], "lang": ["zh"]}


def table_ids(name: str) -> list[int]:
    table = Base.metadata.tables[name]
    column = table.c.get("id")
    if column is None:
        return []
    return list(db.session.scalars(select(column).order_by(column)))


def table_for(argument: str) -> str | None:
    """The table an `<int:xxx_id>` argument names: xxx(e)s, or the one table ending in _xxx(e)s
    (revision_id → instrument_revisions)."""
    stem = argument.removesuffix("_id")
    aliases = {"org": "organizations", "organization": "organizations", "unit": "organizations",
               "user": "users", "token": "api_tokens", "policy": "voucher_policies"}
    if stem in aliases:
        return aliases[stem]
    names = set(Base.metadata.tables)
    for candidate in (f"{stem}s", f"{stem}es"):
        if candidate in names:
            return candidate
    ending = [n for n in names if n.endswith((f"_{stem}s", f"_{stem}es"))]
    return ending[0] if len(ending) == 1 else None


def argument_values(app, rule, argument: str, world: World) -> list:
    converter = rule._converters[argument]
    if isinstance(converter, AnyConverter):
        return sorted(converter.items)
    if isinstance(converter, IntegerConverter):
        if argument == "instrument_id":
            return [p.instrument_id for p in world.planted] + world.civilian_ids + [MISSING_ID]
        table = table_for(argument)
        if table is None:
            pytest.fail(f"the leak test cannot fill <{argument}> of GET {rule.rule}: teach table_for() its table")
        ids = table_ids(table)
        return [*(ids if len(ids) <= 80 else ids[:40] + ids[-40:]), MISSING_ID]
    if argument == "filename":
        return sorted(p.name for p in Path(app.static_folder).iterdir() if p.is_file())[:1]
    if argument in STRING_ARGUMENTS:
        return STRING_ARGUMENTS[argument]
    pytest.fail(f"the leak test cannot fill <{argument}> of GET {rule.rule}: add it to STRING_ARGUMENTS")
    return []


def get_urls(app, world: World) -> list[tuple[str, str]]:
    """(endpoint, url) for every GET route, with every combination of real ids (and a missing one)."""
    adapter = app.url_map.bind("localhost")
    urls = []
    rules = [r for r in app.url_map.iter_rules() if "GET" in r.methods]
    assert len(rules) > 20
    for rule in rules:
        arguments = sorted(rule.arguments)
        choices = [argument_values(app, rule, a, world) for a in arguments]
        for combo in itertools.islice(itertools.product(*choices), 400):
            urls.append((rule.endpoint, adapter.build(rule.endpoint, dict(zip(arguments, combo, strict=True)),
                                                      method="GET")))
    return urls


def search_queries(world: World) -> dict[str, list[str]]:
    """Searches and filters aimed at the markers, by output: exact filters on each district and category, the fee
    filter just above each planted fee, value, mode, region and the sorts, for every output; text searches for the
    markers the full text covers (a bigram and the Latin word for the JSON list, revision and comment markers
    included; a bigram of the published versions' markers for the HTML page and its snippets). The CSV and XLSX
    files get the filters (the XLSX the general ones). test_what_a_viewer_may_see_is_shown_and_found checks the
    result ids of every query of every marker."""
    general = ["", "defence=true", "defence=true&sort=name", "defence=true&sort=fee", "defence=true&sort=value",
               "defence=true&sort=newest", "per_page=100", "q=leak", "large=true", "large=false", "region=3201",
               "service_mode=statutory_testing", "owner_kind=defence_unit"]
    filters, api, pages = list(general), [], []
    for p in world.planted:
        for marker in [*p.markers.values(), *p.internal]:
            if marker.name in SEARCHED_FIELDS or marker.name.endswith("comment"):
                api += [f"q={quote(marker.queries[0])}", f"q={quote(marker.queries[3])}"]
                if p.published and marker.kind != "internal":
                    pages.append(f"q={quote(marker.queries[0])}")
        filters.append(f"district={quote(p.markers['district'].needles[0] + p.markers['district'].needles[1])}")
        code = p.markers["category_code"].needles[0]
        filters += [f"category_code={code}", f"category_code={code[:2]}"]
        for money in ("fee_per_hour_fen", "fee_per_sample_fen"):
            filters.append(f"fee_max_fen={int(p.markers[money].needles[0]) + 1}")
    return {"api": filters + api, "page": filters + pages, "csv": filters, "xlsx": general}


CATEGORY_SELECT = re.compile(r'<select[^>]*name="category_code"[^>]*>.*?</select>', re.S)
INSTRUMENT_LINK = re.compile(r"/instruments/(\d+)(?![\d])")


def response_text(response) -> str:
    """Everything a response shows: headers, and the body as text (JSON decoded, XLSX unzipped)."""
    parts = [f"{k}: {v}" for k, v in response.headers.items()]
    data = response.get_data()
    mimetype = response.mimetype or ""
    if mimetype == "application/json":
        parts.append(json.dumps(response.get_json(), ensure_ascii=False))
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            parts += [book.read(n).decode("utf-8", "replace") for n in book.namelist()]
    else:
        parts.append(data.decode("utf-8", "replace"))
    return "\n".join(parts)


def instrument_objects(value):
    """Every JSON object that looks like an instrument (it carries id, status and is_defence)."""
    if isinstance(value, dict):
        if {"id", "status", "is_defence"} <= set(value):
            yield value
        for item in value.values():
            yield from instrument_objects(item)
    elif isinstance(value, list):
        for item in value:
            yield from instrument_objects(item)


def instrument_references(value):
    if isinstance(value, dict):
        for key, item in value.items():
            if "instrument_id" in key and isinstance(item, int | list):
                yield from (i for i in (item if isinstance(item, list) else [item]) if isinstance(i, int))
            else:
                yield from instrument_references(item)
    elif isinstance(value, list):
        for item in value:
            yield from instrument_references(item)


def names_organisations(endpoint: str) -> bool:
    """Pages about organisations or their resources: a verified organisation's name is public there (docs/api.md)."""
    return endpoint.startswith("org.") or "organization" in endpoint or "resource" in endpoint


# Every needle has one of these shapes, so a response is scanned once per shape rather than once per needle.
LATIN_NEEDLE = re.compile(r"LEAK[a-z0-9_]*?X")
DATE_NEEDLE = re.compile(r"\d{4}-\d{2}-\d{2}")
CODE_NEEDLE = re.compile(r"Q[A-Z]LK\d{3}")
NUMBER = re.compile(r"\d[\d,]*(?:\.\d\d)?")
RARE_HAN_RUN = re.compile(r"[\u3400-\u4dbf]{4,}")


def shown_needles(text: str) -> set[str]:
    """Every needle-shaped piece of the text (numbers without their thousands separators)."""
    found = set(LATIN_NEEDLE.findall(text)) | set(DATE_NEEDLE.findall(text)) | set(CODE_NEEDLE.findall(text))
    found |= {token.replace(",", "") for token in NUMBER.findall(text)}
    for run in RARE_HAN_RUN.findall(text):
        found |= {run[i:i + 4] for i in range(len(run) - 3)}
    return found


@dataclass
class Scan:
    world: World
    viewer: str
    problems: list[str] = field(default_factory=list)
    requests: int = 0
    _forbidden: dict = field(default_factory=dict)

    @property
    def level(self) -> str:
        return VIEWER_LEVELS[self.viewer]

    def forbidden(self, endpoint: str) -> dict[str, str]:
        """needle → what it shows, for every value this viewer may not see on this endpoint."""
        context = (names_organisations(endpoint), "categor" in endpoint)
        if context not in self._forbidden:
            out = {}
            for p in self.world.planted:
                for name, marker in [*p.markers.items(), *((m.name, m) for m in p.internal)]:
                    if marker.kind != "internal" and p.shows(name, self.level):
                        continue
                    if marker.kind == "owner" and context[0]:
                        continue  # a verified organisation's name is public on organisation pages (docs/api.md)
                    if marker.name == "category_code" and context[1]:
                        continue  # the category table is public reference data
                    out |= dict.fromkeys(marker.needles, f"{marker.listing}.{marker.name}")
            self._forbidden[context] = out
        return self._forbidden[context]

    def hidden_links(self, endpoint: str) -> set[int]:
        """Listings this viewer may not know of (on organisation pages: whose owner the viewer may not see)."""
        ids = {p.instrument_id for p in self.world.planted if not p.published}
        if names_organisations(endpoint):
            ids |= {p.instrument_id for p in self.world.planted if not p.shows("owner_id", self.level)}
        return ids

    def check(self, endpoint: str, url: str, response) -> None:
        try:
            self._check(endpoint, url, response)
        finally:
            response.close()

    def _check(self, endpoint: str, url: str, response) -> None:
        self.requests += 1
        where = f"{self.viewer} GET {url} → {response.status_code}"
        if response.status_code >= 500:
            self.problems.append(f"{where}: server error")
        forbidden = self.forbidden(endpoint)
        text = response_text(response)
        path, _, query = url.partition("?")
        if "text/html" in (response.mimetype or ""):
            text = CATEGORY_SELECT.sub("", text)
        for value in (v.split("=", 1)[-1] for v in query.split("&") if v):
            echo = unquote_plus(value)
            if shown_needles(echo) & forbidden.keys():  # the page repeats the filter the viewer typed
                for form in {echo, quote(echo), quote_plus(echo), value}:
                    text = text.replace(form, "")
        for needle in sorted(shown_needles(text) & forbidden.keys()):
            self.problems.append(f"{where}: shows {forbidden[needle]} ({needle!r})")
        linkless = text.replace(url, "").replace(path, "").replace(quote(url, safe=""), "").replace(
            quote(path, safe=""), "")
        hidden = self.hidden_links(endpoint)
        for iid in {int(i) for i in INSTRUMENT_LINK.findall(linkless)} & hidden:
            self.problems.append(f"{where}: links to listing {iid}")
        if response.mimetype == "application/json":
            body = response.get_json()
            for obj in instrument_objects(body):
                planted = next((p for p in self.world.planted if p.instrument_id == obj["id"]), None)
                if planted is None:
                    continue
                extra = set(obj) - planted.allowed_keys(self.level)
                if extra:
                    self.problems.append(f"{where}: {planted.key} object has {sorted(extra)}")
            for iid in set(instrument_references(body)) & hidden:
                self.problems.append(f"{where}: refers to listing {iid}")


def present(markers, text: str) -> list[str]:
    """The markers none of whose needles the text shows."""
    shown = shown_needles(text)
    return [f"{m.listing}.{m.name}" for m in markers if m.needles and not set(m.needles) & shown]


# ---------------------------------------------------------------- the test


@pytest.fixture
def world(factory, app) -> World:
    return build_world(factory, app)


def test_no_marker_leaks_through_any_get_route_search_or_filter(app, world):
    urls = get_urls(app, world)
    endpoints = {e for e, _ in urls}
    assert {"catalogue.detail", "catalogue.index", "catalogue.export", "catalogue.sitemap",
            "api.get_instrument_get", "api.list_instruments_get"} <= endpoints
    search_endpoints = sorted(e for e in endpoints if e in ("catalogue.index", "api.list_instruments_get")
                              or e == "catalogue.export")
    queries = search_queries(world)
    adapter = app.url_map.bind("localhost")
    problems = []
    total = 0
    for viewer, who in world.viewers.items():
        client, headers = who["client"], who["headers"]
        scan = Scan(world, viewer)
        for endpoint, url in urls:
            scan.check(endpoint, url, client.get(url, headers=headers))
        for endpoint in search_endpoints:
            formats = ["csv", "xlsx"] if endpoint == "catalogue.export" else [None]
            for fmt in formats:
                base = adapter.build(endpoint, {"fmt": fmt} if fmt else {}, method="GET")
                kind = fmt or ("api" if endpoint.startswith("api.") else "page")
                for query in queries[kind]:
                    url = f"{base}?{query}" if query else base
                    scan.check(endpoint, url, client.get(url, headers=headers))
        problems += scan.problems
        total += scan.requests
    assert total > 1000
    assert problems == [], f"{len(problems)} leaks, e.g.\n" + "\n".join(problems[:40])


def test_what_a_viewer_may_see_is_shown_and_found(app, world):
    """The other half, so the leak test can fail: allowed markers appear, and searches find exactly what's allowed."""
    missing, wrong = [], []
    for viewer, who in world.viewers.items():
        client, headers, level = who["client"], who["headers"], VIEWER_LEVELS[viewer]
        for p in world.planted:
            allowed = [m for name, m in p.markers.items() if p.shows(name, level)]
            page = client.get(f"/instruments/{p.instrument_id}")
            api = call(client, "GET", f"/instruments/{p.instrument_id}", headers)
            if not p.published:
                assert page.status_code == 404 and api.status_code == 404, (viewer, p.key)
                continue
            assert page.status_code == 200 and api.status_code == 200, (viewer, p.key)
            page_text = CATEGORY_SELECT.sub("", response_text(page))
            missing += [f"{viewer} page: {m}" for m in present(allowed, page_text)]
            # The API names the owner by owner_id (checked with the keys), not by name.
            missing += [f"{viewer} api: {m}" for m in present([m for m in allowed if m.kind != "owner"],
                                                              response_text(api))]
            assert set(api.get_json()) == p.allowed_keys(level), (viewer, p.key)
            for name, marker in p.markers.items():
                for q in marker.queries:
                    ids = {i["id"] for i in call(client, "GET", f"/instruments?q={quote(q)}&per_page=100",
                                                 headers).get_json()["items"]}
                    expected = p.shows(name, level) and name in SEARCHED_FIELDS  # what full text covers
                    if (p.instrument_id in ids) != expected or len(ids) > 1:
                        wrong.append(f"{viewer} q={q} ({p.key}.{name}): {sorted(ids)}")
            for marker in p.internal:  # revision changes, comments, reasons: never matched by anyone here
                for q in marker.queries:
                    ids = {i["id"] for i in call(client, "GET", f"/instruments?q={quote(q)}&per_page=100",
                                                 headers).get_json()["items"]}
                    if ids:
                        wrong.append(f"{viewer} q={q} ({p.key}.{marker.name}): {sorted(ids)}")
            modes = {i["id"] for i in call(client, "GET", "/instruments?service_mode=statutory_testing&per_page=100",
                                           headers).get_json()["items"]}
            if (p.instrument_id in modes) != p.shows("service_modes", level):
                wrong.append(f"{viewer} service_mode filter ({p.key})")
    assert (missing, wrong) == ([], [])
    # The mixes really are mixed: the cleared user sees more than the SME, who sees more than anonymous.
    a = next(p for p in world.planted if p.key == "approved_a")
    assert len(a.allowed_keys("public")) < len(a.allowed_keys("registered")) < len(a.allowed_keys("cleared")) \
        < len(a.allowed_keys("hidden"))
