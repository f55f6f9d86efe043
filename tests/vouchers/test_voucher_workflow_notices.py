"""The public notice: approved claims in their notice period only, with enterprise name, amount and period, and no
private field; no token needed."""

from ..booking_support import expect
from ..voucher_workflow_support import act, approved_claim, call, enterprise, service, submitted_claim, voucher_world

PUBLIC_KEYS = {"id", "year", "organization_name", "subsidy_fen", "notice_from", "notice_until"}


def test_notice_lists_only_claims_in_notice(client, factory, frozen_clock):
    world = voucher_world(factory)
    in_notice = approved_claim(client, world, [service(world)])
    frozen_clock.move(days=2)
    other_org = enterprise(factory, name="南京公示测试科技有限公司")
    other_user = factory.user(other_org, ("sme_user",))
    second = approved_claim(client, world.__class__(**(vars(world) | {"sme": other_org, "sme_user": other_user})),
                            [service(world, org=other_org, minutes=120)])
    submitted_claim(world, [service(world)])  # not approved: never shown
    rejected = approved_claim(client, world, [service(world)])
    expect(act(client, world, rejected.id, "reject", "auditor1", {"reason": "异议属实"}), 200)

    body = expect(call(client, "GET", "/voucher-notices"), 200)
    assert body["total"] == 2 and body["page"] == 1
    assert [i["id"] for i in body["items"]] == [in_notice.id, second.id]
    first = body["items"][0]
    assert set(first) == PUBLIC_KEYS
    assert first["organization_name"] == world.sme.name and first["subsidy_fen"] == 25_000
    assert first["notice_from"] == "2026-12-01T10:00:00+08:00" and first["notice_until"] == "2026-12-08T10:00:00+08:00"
    assert body["items"][1]["organization_name"] == "南京公示测试科技有限公司"
    assert body["items"][1]["subsidy_fen"] == 50_000

    frozen_clock.move(days=5)  # the first notice ended at 12-08 10:00
    body = expect(call(client, "GET", "/voucher-notices", world.h("sme")), 200)
    assert [i["id"] for i in body["items"]] == [second.id]
    assert expect(call(client, "GET", "/voucher-notices?year=2025"), 200)["total"] == 0
    expect(call(client, "GET", "/voucher-notices?year=abc"), 422)
    expect(call(client, "GET", "/voucher-notices", {"Authorization": "Bearer nonsense"}), 401, "invalid_token")
