"""Operator pages of the booking engine (rules editor, contract template) and the in-app notifications."""

import re

from instrument_share.bookings import contracts, ruleset
from instrument_share.bookings.rules import Window

from .. import catalogue_support as cs
from .._booking_pages import book, civilian_setup, confirm, field_error, other_booker
from .._pages import sign_in, submit, text

RULES_FORM = {
    "rules-open_0_0_start": "09:00", "rules-open_0_0_end": "12:00",
    "rules-open_0_1_start": "13:00", "rules-open_0_1_end": "17:00",
    "rules-open_5_0_start": "10:00", "rules-open_5_0_end": "14:00",
    "rules-min_minutes": "60", "rules-max_minutes": "240", "rules-granularity_minutes": "60",
    "rules-min_notice_hours": "48", "rules-max_horizon_days": "30", "rules-buffer_minutes": "15",
    "rules-cancel_notice_hours": "12", "rules-quota_hours_per_org": "10",
}


def test_rules_editor_round_trip_with_blackouts(client, factory, frozen_clock):
    from datetime import time

    s = civilian_setup(factory)
    path = f"/provider/instruments/{s.instrument.id}/booking-rules"
    sign_in(client, factory, s.unit.operator)
    assert path in text(client.get(f"/provider/instruments/{s.instrument.id}"))  # linked from the unit's page
    page = text(client.get(path))
    assert 'name="rules-open_0_0_start" type="time" value="08:00"' in page  # the defaults until set
    assert re.search(r'<input checked id="rules-needs_confirmation"', page)

    response = submit(client, path, RULES_FORM)  # the confirmation box left unticked
    assert response.status_code == 302, field_errorless(text(response))
    rules = ruleset.load_rules(s.instrument.id)
    assert sorted(rules.opening_hours, key=lambda w: (w.weekday, w.start)) == [
        Window(0, time(9), time(12)), Window(0, time(13), time(17)), Window(5, time(10), time(14))]
    assert (rules.min_minutes, rules.max_minutes, rules.granularity_minutes, rules.min_notice_hours,
            rules.max_horizon_days, rules.buffer_minutes, rules.cancel_notice_hours, rules.quota_hours_per_org,
            rules.needs_confirmation) == (60, 240, 60, 48, 30, 15, 12, 10, False)
    page = text(client.get(path))
    assert 'name="rules-open_0_1_start" type="time" value="13:00"' in page
    assert 'name="rules-quota_hours_per_org" type="number" value="10"' in page
    assert re.search(r'<input id="rules-needs_confirmation"', page)  # now unticked

    response = submit(client, f"{path}/blackouts", {"blackout-start_date": "2026-12-24", "blackout-start_time": "00:00",
                                                    "blackout-end_date": "2026-12-26", "blackout-end_time": "00:00",
                                                    "blackout-reason": "年度维护"}, page=path)
    assert response.status_code == 302
    (blackout,) = ruleset.blackouts_of(s.instrument.id)
    assert blackout.reason == "年度维护" and ruleset.load_rules(s.instrument.id).min_minutes == 60  # the rest kept
    booking_page = text(client.get(f"/instruments/{s.instrument.id}/book"))
    assert "年度维护" in booking_page and "09:00–12:00, 13:00–17:00" in booking_page

    response = submit(client, f"{path}/blackouts/{blackout.id}/remove", page=path)
    assert response.status_code == 302 and ruleset.blackouts_of(s.instrument.id) == []
    assert submit(client, f"{path}/blackouts/{blackout.id}/remove", page=path).status_code == 404

    bad = submit(client, path, RULES_FORM | {"rules-open_0_0_end": "08:00", "rules-min_minutes": "500"})
    assert bad.status_code == 422 and field_error(text(bad), "rules-open_0_0_end")
    bad = submit(client, path, RULES_FORM | {"rules-min_minutes": "300"})  # more than max_minutes: the service says so
    assert bad.status_code == 422 and field_error(text(bad), "rules-min_minutes")
    bad = submit(client, path, RULES_FORM | {"rules-buffer_minutes": "99999999999999999999"})
    assert bad.status_code == 422 and field_error(text(bad), "rules-buffer_minutes")
    assert ruleset.load_rules(s.instrument.id).min_minutes == 60

    other_unit = cs.civilian_unit(factory, with_headers=False)
    outsider = factory.app.test_client()
    sign_in(outsider, factory, other_unit.operator)
    assert outsider.get(path).status_code == 403
    draft = cs.create(other_unit)
    assert client.get(f"/provider/instruments/{draft.id}/booking-rules").status_code == 404
    booker = factory.app.test_client()
    sign_in(booker, factory, s.booker)
    assert booker.get(path).status_code == 403


def field_errorless(html: str) -> str:
    return ", ".join(re.findall(r'<span class="field-error" id="([^"]+)"', html))


def test_contract_template_editor(client, factory, frozen_clock):
    s = civilian_setup(factory)
    sign_in(client, factory, s.unit.operator)
    page = text(client.get("/provider/contract-template"))
    assert contracts.DEFAULT_TERMS["ip_terms"] in page
    terms = {name: f"第{i}条：本单位约定的条款内容。" for i, name in enumerate(contracts.TERM_FIELDS, 1)}
    response = submit(client, "/provider/contract-template", terms)
    assert response.status_code == 302
    assert contracts.template_for(s.unit.org.id) == terms
    assert "第5条：本单位约定的条款内容。" in text(client.get("/provider/contract-template"))

    booker = factory.app.test_client()
    sign_in(booker, factory, s.booker)
    assert "第2条：本单位约定的条款内容。" in text(booker.get(f"/instruments/{s.instrument.id}/book"))
    assert booker.get("/provider/contract-template").status_code == 403

    bad = submit(client, "/provider/contract-template", terms | {"dispute_terms": "  "})
    assert bad.status_code == 422 and field_error(text(bad), "dispute_terms")
    assert contracts.template_for(s.unit.org.id) == terms


def unread_badge(html: str) -> int:
    match = re.search(r'class="badge unread-count"[^>]*>(\d+)<', html)
    return int(match.group(1)) if match else 0


def test_notifications_unread_count_and_mark_read(client, factory, frozen_clock):
    s = civilian_setup(factory)
    sign_in(client, factory, s.unit.operator)
    assert unread_badge(text(client.get("/"))) == 0
    first = book(s.booker, s.instrument, "2026-12-03", "09:00", "10:00")
    frozen_clock.move(minutes=5)
    second = book(s.booker, s.instrument, "2026-12-04", "09:00", "10:00")
    page = text(client.get("/notifications"))
    assert unread_badge(page) == 2
    assert page.index(f"第 {second.id} 号") < page.index(f"第 {first.id} 号")  # newest first

    ids = [int(i) for i in re.findall(r'data-notification="(\d+)"', page)]
    assert submit(client, f"/notifications/{ids[0]}/read", page="/notifications").status_code == 302
    assert unread_badge(text(client.get("/"))) == 1
    response = submit(client, f"/notifications/{ids[1]}/read", {"open": "1"}, page="/notifications")
    assert response.location == f"/bookings/{first.id}"
    assert unread_badge(text(client.get("/"))) == 0

    confirm(s.unit.operator, first)
    booker = factory.app.test_client()
    sign_in(booker, factory, s.booker)
    page = text(booker.get("/notifications"))
    assert unread_badge(page) == 1 and "NJYQ-" in page
    booker_ids = [int(i) for i in re.findall(r'data-notification="(\d+)"', page)]
    assert submit(client, f"/notifications/{booker_ids[0]}/read", page="/notifications").status_code == 404
    assert submit(booker, "/notifications/read-all", page="/notifications").status_code == 302
    assert unread_badge(text(booker.get("/notifications"))) == 0
    assert 'class="unread"' not in text(booker.get("/notifications"))

    stranger = factory.app.test_client()
    sign_in(stranger, factory, other_booker(factory))
    assert "unread-count" not in text(stranger.get("/"))
