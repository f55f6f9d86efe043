"""The world the fuzz tests (test_api_fuzz.py, test_form_fuzz.py) run in, their budget, and their figures.

One world per test: every role as a signed-in person with a bearer token, and at least one object of each kind a
route names by id (instruments in every state, bookings, service records, claims, adjustment requests, ...), built
through the real services and API (tests/factories.py and the feature support modules). Path ids are drawn from
these objects or from numbers far outside them, so a fuzzed call hits a real object often; user ids name other
accounts than the ones the fuzzer acts as (their organisations are fair game). Fuzzed calls may still change those
accounts (revoke a token, suspend the organisation, remove a role); `World.heal` puts them back.

Budget: FUZZ_EXAMPLES inputs per operation (API) or route (forms), 12 by default so the two files stay well within
the suite's time; `scripts/fuzz.py --examples N` runs the same tests with more. Generation is derandomised (the same
inputs every run, so a failure is reproduced by running the test again; FUZZ_ONLY=part,part narrows the run to the
operations or routes whose name contains one of the parts) unless FUZZ_SEED picks another seed; the Hypothesis
example database is off (nothing is written next to the repository).
"""

import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from hypothesis import HealthCheck, Phase, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from sqlalchemy import select

from instrument_share.accounts import auth, users
from instrument_share.accounts.models import Organization, RoleGrant, User
from instrument_share.accounts.roles import OrgStatus, Role
from instrument_share.bookings import ruleset
from instrument_share.catalogue import clearances, listings, resources
from instrument_share.db import MAX_ID, Base, db
from instrument_share.ledger import disputes, entries, ratings

from .booking_support import book, expect, iso
from .catalogue_support import create, defence_unit, publish_civilian, publish_defence, submit
from .conftest import BACKEND
from .factories import Factory
from .voucher_workflow_support import draft_claim, service, submitted_claim, voucher_world

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
SEED = os.environ.get("FUZZ_SEED", "")
ONLY = [part for part in os.environ.get("FUZZ_ONLY", "").split(",") if part]  # to reproduce one operation's failure


def selected(name: str) -> bool:
    return not ONLY or any(part in name for part in ONLY)


# Ids that name nothing: 0, numbers far above the world's, the 32- and 64-bit edges (negative ids do not match an
# <int:...> route at all, which the raw fuzzing of test_api_errors covers).
MISSING_IDS = st.sampled_from([0, 999_999, MAX_ID, MAX_ID + 1, 2**63 - 1, 2**63, 2**64, 10**30]) | st.integers(
    min_value=10**6, max_value=10**12)


def fuzz_settings(examples: int | None = None):
    """Hypothesis settings shared by the fuzz tests: reproducible, no example database, no shrinking (the world
    changes as calls succeed, so a shrunk replay would not see the same state; the failing input is printed)."""
    chosen = settings(max_examples=examples or EXAMPLES, deadline=None, database=None, derandomize=not SEED,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
                      print_blob=False)

    def apply(fn):
        fn = chosen(fn)
        return hypothesis_seed(int(SEED))(fn) if SEED else fn

    return apply


@dataclass
class Persona:
    name: str
    user: User | None
    roles: tuple = ()
    token: str | None = None

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


@dataclass
class World:
    factory: Factory
    personas: dict[str, Persona]
    ids: dict[str, list[int]] = field(default_factory=dict)  # table name -> real ids a path may name
    strings: dict[str, list[str]] = field(default_factory=dict)  # <code>, <role>, ... -> real values
    client: object = None  # the test client the fuzzed requests go through
    basic_username: str = ""  # an account whose password the fuzzer knows (HTTP Basic for POST /tokens)
    heals: int = 0

    def heal(self, persona: Persona) -> None:
        """Give a persona back its account, roles, organisation and a working token after a fuzzed call took one
        of them (disabled, role removed, organisation suspended, token revoked)."""
        if persona.user is None:
            return
        self.heals += 1
        with db.transaction():
            user = db.session.get(User, persona.user.id)
            user.is_disabled = False
            user.locked_until = None
            user.totp_last_step = None  # the clock is frozen: signing in again reuses the same code
            held = {g.role for g in user.role_grants}
            for role in persona.roles:
                if role.value not in held:
                    db.session.add(RoleGrant(user=user, role=role.value))
            org = db.session.get(Organization, user.organization_id)
            org.status = OrgStatus.verified
        persona.token = self.factory.token(persona.user)


PERSONA_ROLES = {
    "anonymous": (),
    "sme_user": (Role.sme_user,),
    "org_manager": (Role.sme_user,),
    "provider_operator": (Role.provider_operator,),
    "defence_operator": (Role.provider_operator,),
    "defence_approver": (Role.defence_approver,),
    "authority_approver": (Role.defence_approver,),
    "commission_auditor": (Role.commission_auditor,),
    "commission_officer": (Role.commission_officer,),
    "audit_admin": (Role.audit_admin,),
    "system_admin": (Role.system_admin,),
    "security_admin": (Role.security_admin,),
}


def build_world(app, factory: Factory, client) -> World:
    """Every role, and objects of every kind a route names (see the module docstring)."""
    vw = voucher_world(factory)
    unit, sme = vw.unit, vw.sme
    op2 = factory.user(unit.org, (Role.provider_operator,))  # asks for the adjustment the persona may approve
    manager = factory.user(sme, (Role.sme_user,), manager=True)
    defence = defence_unit(factory)
    admin_org = factory.org("commission", name="南京市科学技术局（系统管理）")
    people = {
        "anonymous": None, "sme_user": vw.sme_user, "org_manager": manager, "provider_operator": unit.operator,
        "defence_operator": defence.operator, "defence_approver": defence.reviewer,
        "authority_approver": defence.approver,
        "commission_auditor": vw.auditor1, "commission_officer": vw.officer,
        "audit_admin": factory.user(admin_org, (Role.audit_admin,), totp=True),
        "system_admin": factory.user(admin_org, (Role.system_admin,), totp=True),
        "security_admin": factory.user(admin_org, (Role.security_admin,), totp=True),
    }
    personas = {name: Persona(name, user, PERSONA_ROLES[name], factory.token(user) if user else None)
                for name, user in people.items()}

    # People and organisations the fuzzer may disable, re-role, verify or suspend instead of the personas.
    victims = [factory.user(sme, (Role.sme_user,)), factory.user(unit.org, (Role.provider_operator,)),
               factory.user(sme)]
    pending = factory.org("enterprise", verified=False)
    other_unit = factory.org("university")
    for user in victims:
        factory.token(user)

    # Instruments in every state: published civilian (vw), a draft, a published / in-review / draft defence listing.
    create(unit, name_zh="待发布的仪器")
    publish_defence(defence, {"name_zh": "public", "location": "registered", "fee_per_hour_fen": "cleared"})
    submit(defence, create(defence, name_zh="送审中的仪器"))
    create(defence, name_zh="国防草稿仪器")
    suspended = publish_civilian(unit, name_zh="已暂停的仪器")
    with db.transaction():
        listings.suspend(actor=db.session.merge(unit.operator), instrument=db.session.merge(suspended), reason="维护")
        clearances.grant(actor=db.session.merge(defence.operator), unit=db.session.merge(defence.org),
                         organization_id=sme.id, agreement_version="保密协议2026")
        ruleset.set_rules(actor=db.session.merge(unit.operator), instrument=db.session.merge(vw.instrument),
                          payload={"blackouts": [{"start": iso(20, "00:00"), "end": iso(21, "00:00"),
                                                  "reason": "年度维护"}]})
        resources.create(actor=db.session.merge(unit.operator), values={
            "kind": "testing_centre", "name_zh": "分析测试中心", "instrument_ids": [vw.instrument.id]})
        invitation = users.invite(actor=db.session.merge(manager), org=db.session.merge(sme),
                                  email="new@example.cn", role="sme_user")
        auth.request_password_reset(victims[2].email)
    reset_link = factory.link_from_mail(victims[2].email, "password/reset/")

    # Bookings: pending, confirmed, a sample order (the clock is Tuesday 2026-12-01 10:00 local).
    sme_headers = personas["sme_user"].headers()
    pending_booking = expect(book(client, sme_headers, vw.instrument.id, iso(1, "10:00"), iso(1, "11:00")), 201)
    expect(book(client, sme_headers, vw.instrument.id, iso(2, "10:00"), iso(2, "11:00")), 201)
    expect(book(client, sme_headers, vw.instrument.id, mode="sample_testing", samples=2,
                wanted_by=(date(2026, 12, 1) + timedelta(days=20)).isoformat()), 201)
    expect(client.post(f"/api/v1/bookings/{pending_booking['id']}/confirm",
                       headers=personas["provider_operator"].headers()), 200)

    # Service records, paid or not, with a rating, a dispute and an adjustment waiting for a second operator; claims.
    paid = [service(vw, day=date(2026, 11, d)) for d in (10, 11, 12)]
    unpaid = service(vw, paid_fen=0, day=date(2026, 11, 25))
    with db.transaction():
        actor = db.session.merge(vw.sme_user)
        ratings.rate(actor=actor, record=db.session.merge(paid[0]), score=4, comment="好")
        disputes.raise_dispute(actor=actor, record=db.session.merge(unpaid), reason="时长有误")
        entries.append_entry(actor=db.session.merge(op2), record=db.session.merge(unpaid),
                             kind="adjustment", direction="credit", amount_fen=500_000, entry_date=date(2026, 12, 1),
                             reason="大额调整")
    draft_claim(vw, [paid[0]])
    submitted_claim(vw, [paid[1]])

    world = World(factory, personas, client=client, basic_username=victims[0].username)
    for name in Base.metadata.tables:
        table = Base.metadata.tables[name]
        if "id" in table.c:
            world.ids[name] = list(db.session.scalars(select(table.c.id).order_by(table.c.id)))
    # Paths name other accounts than the personas', and not the commission's or the authority's organisation (with
    # those suspended most personas would need healing after every call); the enterprise and the units are named.
    world.ids["users"] = [u.id for u in victims]
    spared = {vw.commission.id, admin_org.id, defence.superior.id}
    world.ids["organizations"] = [i for i in world.ids["organizations"] if i not in spared]
    assert {pending.id, other_unit.id, sme.id, unit.org.id, defence.org.id} <= set(world.ids["organizations"])
    world.strings = {"role": [r.value for r in Role], "code": ["01", "0101", "99"],
                     "token": [invitation.secret, reset_link.rsplit("/", 1)[-1]]}  # an invitation, a reset
    return world


# ---------------------------------------------------------------- path arguments

ALIASES = {"org": "organizations", "organization": "organizations", "unit": "organizations", "user": "users",
           "token": "api_tokens", "policy": "voucher_policies", "claim": "voucher_claims",
           "notification": "notifications", "blackout": "booking_blackouts"}


def table_for(argument: str) -> str | None:
    """The table an `<int:xxx_id>` argument names: an alias, xxx(e)s, or the one table ending in _xxx(e)s."""
    stem = argument.removesuffix("_id")
    names = set(Base.metadata.tables)
    if stem in ALIASES and ALIASES[stem] in names:
        return ALIASES[stem]
    for candidate in (f"{stem}s", f"{stem}es"):
        if candidate in names:
            return candidate
    ending = [n for n in names if n.endswith((f"_{stem}s", f"_{stem}es"))]
    return ending[0] if len(ending) == 1 else None


def id_strategy(world: World, argument: str):
    """A real id of the argument's table (three times in four) or an id that names nothing."""
    table = table_for(argument)
    real = world.ids.get(table or "", [])
    if not real:
        return MISSING_IDS
    return st.one_of(st.sampled_from(real), st.sampled_from(real), st.sampled_from(real), MISSING_IDS)


# ---------------------------------------------------------------- figures


@dataclass
class Tally:
    """Inputs tried per operation, statuses seen, and the failures, printed at the end of a fuzz test."""

    title: str
    tried: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    by_operation: dict[str, Counter] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def answered(self, operation: str, status: int) -> None:
        self.statuses[status] += 1
        self.by_operation.setdefault(operation, Counter())[status] += 1

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def summary(self) -> str:
        per = sorted(self.tried.values()) or [0]
        return (f"{self.title} ({BACKEND}): {sum(per)} inputs over {len(self.tried)} operations ({per[0]}–{per[-1]} "
                f"each); statuses {_statuses(self.statuses)}; 5xx: {self.server_errors}; failures: "
                f"{len(self.failures)}")

    def report(self, report_figure) -> None:
        """The table of inputs and statuses per operation (shown with pytest -s, and by scripts/fuzz.py), and the
        totals in the run's summary."""
        width = max((len(k) for k in self.tried), default=10)
        lines = [f"\n{self.title}: inputs tried per operation (statuses)"]
        lines += [f"  {name:<{width}}  {n:5d}  ({_statuses(self.by_operation.get(name, Counter()))})"
                  for name, n in sorted(self.tried.items())]
        print("\n".join([*lines, self.summary()]), file=sys.stdout, flush=True)
        report_figure(self.summary())


def _statuses(counts: Counter) -> str:
    return ", ".join(f"{status}: {n}" for status, n in sorted(counts.items()))
