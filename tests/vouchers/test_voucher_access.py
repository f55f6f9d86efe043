"""Who reads a voucher claim (vouchers/access.py): the claiming organisation's signed-in users and the commission;
nobody else learns the claim exists (404), not even the provider whose services it lists. One rule, stated as a
per-claim check and as a SQL filter for lists, which must agree; pages and API answer alike."""

from dataclasses import dataclass

import pytest
from flask_login import AnonymousUserMixin
from sqlalchemy import select

from instrument_share.accounts.models import User
from instrument_share.core.errors import PermissionDenied
from instrument_share.db import db
from instrument_share.vouchers import access, exports
from instrument_share.vouchers.models import VoucherClaim

from .._pages import sign_in
from ..factories import english
from ..voucher_workflow_support import (
    VoucherWorld,
    call,
    claim_row,
    draft_claim,
    enterprise,
    service,
    submitted_claim,
    voucher_world,
)

READERS = ("claimant", "colleague", "auditor")
STRANGERS = ("provider", "other_enterprise", "pending_auditor")


@dataclass
class Scene:
    world: VoucherWorld
    claim_id: int  # the SME's submitted claim on a service of the world's provider unit
    other_claim_id: int  # another enterprise's draft
    people: dict  # name -> User


@pytest.fixture
def scene(factory, frozen_clock) -> Scene:
    world = voucher_world(factory)
    claim = submitted_claim(world, [service(world)])
    other = enterprise(factory, "另一家企业")
    other_user = factory.user(other, ("sme_user",))
    other_claim = draft_claim(world, [service(world, org=other)], user=other_user)
    pending = factory.org("commission", verified=False, name="待核验的科技局")
    people = {"claimant": world.sme_user, "colleague": factory.user(world.sme),  # no role: still the claimant's
              "auditor": world.auditor1, "provider": world.unit.operator, "other_enterprise": other_user,
              "pending_auditor": factory.user(pending, ("commission_auditor",), totp=True)}
    return Scene(world, claim.id, other_claim.id, people)


def visible_ids(actor) -> set[int]:
    return set(db.session.scalars(access.visible_claims(actor).with_only_columns(VoucherClaim.id)))


def test_the_list_filter_and_the_per_claim_check_agree(factory, scene):
    disabled = factory.user(scene.world.sme, ("sme_user",))
    with db.transaction():
        db.session.get(User, disabled.id).is_disabled = True
    db.session.rollback()
    actors = {**scene.people, "disabled": db.session.get(User, disabled.id), "nobody": None,
              "anonymous": AnonymousUserMixin()}
    every_claim = list(db.session.scalars(select(VoucherClaim)))
    assert len(every_claim) == 2
    for name, actor in actors.items():
        assert visible_ids(actor) == {c.id for c in every_claim if access.may_read(actor, c)}, name
    assert visible_ids(scene.people["auditor"]) == {scene.claim_id, scene.other_claim_id}
    assert visible_ids(scene.people["claimant"]) == visible_ids(scene.people["colleague"]) == {scene.claim_id}
    assert visible_ids(scene.people["other_enterprise"]) == {scene.other_claim_id}
    for name in ("provider", "pending_auditor", "disabled", "nobody", "anonymous"):
        assert visible_ids(actors[name]) == set(), name


def test_the_api_answers_404_to_whoever_may_not_read_the_claim(client, factory, scene):
    path = f"/voucher-claims/{scene.claim_id}"
    for name in READERS:
        headers = factory.bearer(scene.people[name])
        assert call(client, "GET", path, headers).status_code == 200, name
        listed = call(client, "GET", "/voucher-claims", headers).get_json()
        assert scene.claim_id in [c["id"] for c in listed["items"]], name
    for name in STRANGERS:
        headers = factory.bearer(scene.people[name])
        assert call(client, "GET", path, headers).status_code == 404, name
        assert call(client, "POST", f"{path}/withdraw", headers).status_code == 404, name
        assert call(client, "POST", f"{path}/submit", headers, {}).status_code == 404, name
        listed = call(client, "GET", "/voucher-claims", headers).get_json()
        assert scene.claim_id not in [c["id"] for c in listed["items"]], name
    assert claim_row(scene.claim_id).status == "submitted"


def test_the_claim_page_answers_404_to_whoever_may_not_read_the_claim(client, factory, scene):
    path = f"/vouchers/claims/{scene.claim_id}"
    for name in (*READERS, *STRANGERS):
        browser = client.application.test_client()
        sign_in(browser, factory, scene.people[name])
        english(browser)
        expected = 200 if name in READERS else 404
        assert browser.get(path).status_code == expected, name


def test_only_the_commission_builds_the_voucher_exports(scene):
    """The exports are whole-platform figures; the service refuses whoever the page would refuse."""
    assert exports.build("claims", None, scene.people["auditor"]).rows
    for name in ("claimant", "provider", "pending_auditor"):
        with pytest.raises(PermissionDenied):
            exports.build("claims", None, scene.people[name])
