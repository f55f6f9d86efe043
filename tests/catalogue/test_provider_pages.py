"""A provider unit's instrument pages: create → edit → publish, filters, state buttons, errors, refusals."""

import json

import pytest
from sqlalchemy import select

from instrument_share.accounts.roles import Role
from instrument_share.audit.models import AuditEntry
from instrument_share.catalogue.fields import FIELDS
from instrument_share.catalogue.models import Instrument
from instrument_share.db import db

from .._pages import INSTRUMENT_FORM, created_id, field_errors, provider, reset_each_request, sign_in, submit, text


@pytest.fixture(autouse=True)
def fresh_request_state(app):
    reset_each_request(app)


def instrument(instrument_id: int) -> Instrument:
    db.session.expire_all()
    return db.session.get(Instrument, instrument_id)


def audit_details(action: str, instrument_id: int) -> list[dict]:
    rows = db.session.scalars(select(AuditEntry).where(AuditEntry.action == action,
                                                       AuditEntry.object_id == str(instrument_id)))
    return [json.loads(r.details) for r in rows]


def create(client, **changes) -> int:
    return created_id(submit(client, "/provider/instruments/new", INSTRUMENT_FORM | changes))


def test_create_edit_and_publish_a_civilian_listing(client, factory):
    _org, operator = provider(factory)
    sign_in(client, factory, operator)
    page = text(client.get("/provider/instruments/new"))
    assert "新增仪器" in page or "New instrument" in page
    for f in FIELDS:  # the form covers every field a provider writes
        assert f'name="{f.name}"' in page, f.name
    assert 'type="date"' in page and 'type="checkbox"' in page and 'value="0101"' in page

    instrument_id = create(client)
    saved = instrument(instrument_id)
    assert (saved.status, saved.original_value_fen, saved.fee_per_hour_fen, saved.fee_per_sample_fen) == (
        "draft", 123456789, 30000, 15050)
    assert saved.modes == ["machine_time", "sample_testing"] and saved.purchase_date.isoformat() == "2019-06-30"
    assert saved.created_by_id == operator.id

    edit_page = text(client.get(f"/provider/instruments/{instrument_id}/edit"))
    assert 'value="1234567.89"' in edit_page and 'value="150.50"' in edit_page and "SU8010" in edit_page
    changed = INSTRUMENT_FORM | {"model": "SU8020", "fee_per_hour_fen": "280.00", "service_modes": ["experiment"]}
    response = submit(client, f"/provider/instruments/{instrument_id}/edit", changed)
    assert response.status_code == 302
    saved = instrument(instrument_id)
    assert (saved.model, saved.fee_per_hour_fen, saved.modes) == ("SU8020", 28000, ["experiment"])
    # Only what really changed is written (and logged by field name).
    assert audit_details("instrument.updated", instrument_id)[-1]["fields"] == [
        "fee_per_hour_fen", "model", "service_modes"]

    public = factory.app.test_client()
    assert f"/instruments/{instrument_id}" not in text(public.get("/instruments?q=SU8020"))  # a draft
    assert public.get(f"/instruments/{instrument_id}").status_code == 404  # unpublished: only the unit sees it
    response = submit(client, f"/provider/instruments/{instrument_id}/publish",
                      page=f"/provider/instruments/{instrument_id}")
    assert response.status_code == 302 and instrument(instrument_id).status == "published"
    assert "场发射扫描电子显微镜" in text(public.get(f"/instruments/{instrument_id}"))
    assert f"/instruments/{instrument_id}" in text(public.get("/instruments?q=电子显微"))


def test_bad_input_is_shown_next_to_the_field_and_nothing_is_saved(client, factory):
    _org, operator = provider(factory)
    sign_in(client, factory, operator)
    bad = INSTRUMENT_FORM | {"name_zh": "", "original_value_fen": "12.345", "fee_per_hour_fen": "1e999999999",
                             "fee_per_sample_fen": "-1", "fee_notes": "abc" * 1000, "purchase_date": "2024-13-45",
                             "category_code": "zz", "service_modes": ["teleportation"], "model": "x" * 101}
    response = submit(client, "/provider/instruments/new", bad)
    assert response.status_code == 422
    page = text(response)
    assert len(field_errors(page)) >= 9
    assert 'value="12.345"' in page  # what was typed comes back for correction
    assert db.session.scalar(select(Instrument.id)) is None
    # An absurd amount that only the service refuses is shown next to its field too.
    response = submit(client, "/provider/instruments/new",
                      INSTRUMENT_FORM | {"original_value_fen": "9999999999999999"}, page="/provider/instruments/new")
    assert response.status_code == 422
    assert 'id="original_value_fen-error"' in text(response)
    assert db.session.scalar(select(Instrument.id)) is None


def test_status_filter_and_suspend_resume_retire(client, factory):
    _org, operator = provider(factory, kind="key_lab")
    sign_in(client, factory, operator)
    published = create(client, name_zh="气相色谱仪")
    draft = create(client, name_zh="液相色谱仪")
    submit(client, f"/provider/instruments/{published}/publish", page="/provider/instruments")

    listing = text(client.get("/provider/instruments?status=published"))
    assert "气相色谱仪" in listing and "液相色谱仪" not in listing
    listing = text(client.get("/provider/instruments?status=draft"))
    assert "液相色谱仪" in listing and "气相色谱仪" not in listing
    everything = text(client.get("/provider/instruments?status=nonsense&page=99999999999999999999"))
    assert everything.count("/provider/instruments/") >= 1  # unknown filters are ignored, never a 500

    manage = f"/provider/instruments/{published}"
    response = submit(client, f"{manage}/suspend", {"suspend-reason": "设备检修"}, page=manage)
    assert response.status_code == 302 and instrument(published).status == "suspended"
    assert "设备检修" in text(client.get(manage))
    assert factory.app.test_client().get(f"/instruments/{published}").status_code == 404  # not published now
    submit(client, f"{manage}/resume", page=manage)
    assert instrument(published).status == "published"
    # A refused step re-renders the page with the reason (resume of a published listing).
    refused = submit(client, f"{manage}/resume", page=manage)
    assert refused.status_code == 409 and "flash-error" in text(refused)  # InvalidState, as in the API
    submit(client, f"/provider/instruments/{draft}/retire", page=manage)
    assert instrument(draft).status == "retired"
    assert f'href="/provider/instruments/{draft}/edit"' not in text(client.get(f"/provider/instruments/{draft}"))


def test_other_units_and_other_roles_are_refused(client, factory):
    _org, operator = provider(factory)
    sign_in(client, factory, operator)
    draft, published = create(client), create(client, name_zh="拉曼光谱仪")
    submit(client, f"/provider/instruments/{published}/publish", page="/provider/instruments")

    _other, stranger = provider(factory, kind="research_institute")
    other = factory.app.test_client()
    sign_in(other, factory, stranger)
    assert other.get(f"/provider/instruments/{draft}").status_code == 404  # its existence is not revealed
    assert other.get(f"/provider/instruments/{draft}/edit").status_code == 404
    assert submit(other, f"/provider/instruments/{draft}/publish", page="/provider/instruments").status_code == 404
    assert other.get(f"/provider/instruments/{published}").status_code == 403
    edit = submit(other, f"/provider/instruments/{published}/edit", INSTRUMENT_FORM | {"model": "HACK"},
                  page="/provider/instruments")
    assert edit.status_code == 403 and instrument(published).model == "SU8010"
    assert submit(other, f"/provider/instruments/{published}/retire",
                  page="/provider/instruments").status_code == 403
    assert instrument(published).status == "published" and instrument(draft).status == "draft"
    assert "拉曼光谱仪" not in text(other.get("/provider/instruments"))

    sme = factory.app.test_client()
    sign_in(sme, factory, factory.user(roles=(Role.sme_user,)))
    assert sme.get("/provider/instruments").status_code == 403
    assert sme.get("/provider/instruments/new").status_code == 403
    anonymous = factory.app.test_client()
    assert anonymous.get("/provider/instruments").status_code == 302
    assert anonymous.post(f"/provider/instruments/{draft}/publish").status_code in (400, 401)
    # An operator of an unverified unit may not list instruments.
    _pending, waiting = provider(factory, verified=False)
    assert not waiting.organization.is_verified


def test_forged_posts_without_csrf_token_are_refused(client, factory):
    _org, operator = provider(factory)
    sign_in(client, factory, operator)
    draft = create(client)
    response = client.post(f"/provider/instruments/{draft}/publish")
    assert response.status_code == 400 and instrument(draft).status == "draft"
    response = client.post("/provider/instruments/new", data=INSTRUMENT_FORM)
    assert response.status_code == 400


def test_pages_are_chinese_by_default(client, factory):
    from flask_babel import force_locale, gettext

    _org, operator = provider(factory)
    sign_in(client, factory, operator)
    page = text(client.get("/provider/instruments/new"))
    with factory.app.test_request_context(), force_locale("zh"):
        expected = [str(f.label) for f in FIELDS] + [gettext("My unit's instruments"), gettext("New instrument")]
    assert all(label in page for label in expected)
    assert "Name (Chinese)" not in page and "My unit's instruments" not in page


def test_a_unit_lists_a_resource_with_its_instruments(client, factory):
    _org, operator = provider(factory, kind="key_lab", name="江苏省先进材料重点实验室")
    sign_in(client, factory, operator)
    published, draft = create(client, name_zh="透射电子显微镜"), create(client, name_zh="原子力显微镜")
    submit(client, f"/provider/instruments/{published}/publish", page="/provider/instruments")
    form = text(client.get("/resources/new"))
    assert f'value="{published}"' in form and f'value="{draft}"' in form
    response = submit(client, "/resources/new", {
        "kind": "provincial_key_lab", "name_zh": "江苏省先进结构材料重点实验室", "name_en": "Jiangsu Key Lab",
        "level": "provincial", "fields_of_work": "高温合金与复合材料", "services": "材料检测", "contact": "025-1",
        "website": "javascript:alert(1)", "is_published": "y", "instrument_ids": [str(published), str(draft)]})
    resource_id = created_id(response)

    public = factory.app.test_client()
    listing = text(public.get("/resources?q=结构材料"))
    assert "江苏省先进结构材料重点实验室" in listing
    assert "江苏省先进结构材料重点实验室" in text(public.get("/resources?kind=provincial_key_lab"))
    assert "江苏省先进结构材料重点实验室" not in text(public.get("/resources?kind=service_agency"))
    assert public.get("/resources?kind=nonsense&page=0").status_code == 200
    detail = text(public.get(f"/resources/{resource_id}"))
    assert "透射电子显微镜" in detail and "原子力显微镜" not in detail  # a draft is not shown to the public
    assert 'href="javascript:' not in detail
    assert "原子力显微镜" in text(client.get(f"/resources/{resource_id}"))  # the unit sees its own draft

    edit = f"/resources/{resource_id}/edit"
    response = submit(client, edit, {"kind": "provincial_key_lab", "name_zh": "先进结构材料重点实验室",
                                     "level": "", "instrument_ids": [str(published)]})
    assert response.status_code == 302
    assert "原子力显微镜" not in text(client.get(f"/resources/{resource_id}"))
    assert public.get(f"/resources/{resource_id}").status_code == 404  # no longer shown (unchecked)
    bad = submit(client, edit, {"kind": "moon_base", "name_zh": "", "level": "galactic"}, page=edit)
    assert bad.status_code == 422 and len(field_errors(text(bad))) >= 3

    _other, stranger = provider(factory)
    other = factory.app.test_client()
    sign_in(other, factory, stranger)
    assert other.get(edit).status_code == 404  # unpublished: not revealed
    submit(client, edit, {"kind": "provincial_key_lab", "name_zh": "先进结构材料重点实验室", "level": "",
                          "is_published": "y", "instrument_ids": [str(published)]})
    assert other.get(edit).status_code == 403
    foreign = submit(other, "/resources/new", {"kind": "service_agency", "name_zh": "冒名平台", "level": "",
                                               "instrument_ids": [str(published)]})
    assert foreign.status_code == 422  # the unit's own instruments only


def test_the_system_administrator_keeps_the_classification(client, factory):
    from instrument_share.catalogue.models import InstrumentCategory

    admin = factory.user(factory.org("commission"), roles=(Role.system_admin,), totp=True)
    sign_in(client, factory, admin)
    page = text(client.get("/admin/categories"))
    assert "质谱仪器" in page and 'name="c0102-name_zh"' in page
    response = submit(client, "/admin/categories/0102", {"c0102-name_zh": "质谱分析仪器",
                                                          "c0102-name_en": "Mass spectrometry instruments"},
                      page="/admin/categories")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(InstrumentCategory, "0102").name_zh == "质谱分析仪器"
    bad = submit(client, "/admin/categories/0102", {"c0102-name_zh": "", "c0102-name_en": "x"},
                 page="/admin/categories")
    assert bad.status_code == 422 and field_errors(text(bad))
    assert submit(client, "/admin/categories/0102/deactivate", page="/admin/categories").status_code == 302
    response = submit(client, "/admin/categories", {"add-parent_code": "01", "add-code": "0150",
                                                    "add-name_zh": "太赫兹仪器", "add-name_en": "Terahertz"},
                      page="/admin/categories")
    assert response.status_code == 302
    # A refusal answers the status the API gives it: 409 for a code already taken, 422 for a bad value.
    for (parent, code), status in ((("01", "0250"), 422), (("01", "0150"), 409), (("0101", "0160"), 422)):
        data = {"add-parent_code": parent, "add-code": code, "add-name_zh": "x", "add-name_en": "x"}
        assert submit(client, "/admin/categories", data, page="/admin/categories").status_code == status, data
    assert client.post("/admin/categories/9999/activate", data={"csrf_token": "x"}).status_code == 400
    assert submit(client, "/admin/categories/9999/activate", page="/admin/categories").status_code == 404
    actions = [r.action for r in db.session.scalars(select(AuditEntry).where(
        AuditEntry.object_type == "instrument_category").order_by(AuditEntry.seq))]
    assert actions == ["category.renamed", "category.deactivated", "category.added"]

    # The system administrator lists a resource for a unit named by its USCC.
    unit, operator = provider(factory)
    form = {"kind": "testing_centre", "name_zh": "南京市分析测试中心", "level": "municipal", "is_published": "y"}
    unknown = submit(client, "/resources/new", form | {"organization_uscc": "91320100MA0000000X"})
    assert unknown.status_code == 422 and field_errors(text(unknown))
    resource_id = created_id(submit(client, "/resources/new", form | {"organization_uscc": unit.uscc}))
    assert "南京市分析测试中心" in text(factory.app.test_client().get(f"/resources/{resource_id}"))

    other = factory.app.test_client()
    sign_in(other, factory, operator)
    form = text(other.get("/provider/instruments/new"))
    assert 'value="0150"' in form and 'value="0102"' not in form  # inactive categories are not offered
    assert other.get("/admin/categories").status_code == 403
    assert submit(other, "/admin/categories/0101/deactivate", page="/").status_code == 403
    db.session.expire_all()
    assert db.session.get(InstrumentCategory, "0101").is_active
