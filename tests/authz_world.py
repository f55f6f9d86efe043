"""The world the authorisation matrix (tests/authz_matrix.py) is asked in: the principals, and each kind of object
twice, "own" and "other", built through the real services.

Each side is the same set of organisations: an enterprise (cleared by the unit, with two colleagues of its user, one
disabled), a defence unit under a superior authority (an operator who is the manager, a second operator who drafts,
a confidentiality reviewer), the authority's approver, a civilian unit, a pending enterprise. On the "own" side the
principals are the enterprise's manager, the unit's operator and reviewer and the authority's approver (and the
civilian unit is the other operator's university); on the "other" side nobody is a principal.

Timeline (the frozen clock): Tuesday 2026-12-01 10:00 in Nanjing the listings are approved and booked; that
evening the day's services are recorded and claimed, and one claim per side approved; the next day one booking
becomes a no-show and another starts; the requests are made a week later, Wednesday 2026-12-09 10:00, once the
approved claims' public notice has ended.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from instrument_share.accounts import auth, organizations, tokens, users
from instrument_share.bookings import calendars, lifecycle, ruleset
from instrument_share.bookings import service as bookings
from instrument_share.bookings.models import Booking
from instrument_share.catalogue import clearances, import_jobs, importer, listings, resources
from instrument_share.catalogue.fields import RESTRICTABLE
from instrument_share.catalogue.models import Instrument
from instrument_share.db import db
from instrument_share.files.store import store
from instrument_share.ledger import disputes, entries, service_records
from instrument_share.mail.models import Notification
from instrument_share.reporting import generation
from instrument_share.vouchers import claims, workflow

from .authz_matrix import (
    AUDITADMIN,
    AUDITOR,
    AUTHORITY_APPROVER,
    OFFICER,
    OPERATOR,
    OPERATOR_OTHER,
    OTHER_AUTHORITY_APPROVER,
    SECADMIN,
    SME,
    SME_OTHER,
    SYSADMIN,
    UNIT_APPROVER,
)
from .catalogue_support import Unit, create, csv_bytes, publish_defence, review, row, submit, table
from .factories import Factory, valid_uscc
from .voucher_workflow_support import Upload, make_policy, sme_profile

TZ = ZoneInfo("Asia/Shanghai")
ALL_MODES = ["machine_time", "sample_testing", "experiment", "statutory_testing"]
ALL_PUBLIC = dict.fromkeys(RESTRICTABLE, "public")
MISSING = 987_654_321  # no row has this id


def local(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, datetime.strptime(hhmm, "%H:%M").time(), TZ)


DAY0 = date(2026, 12, 1)  # Tuesday: the world is built
NO_SHOW_DAY, REQUESTS_DAY = date(2026, 12, 2), date(2026, 12, 9)
LATER = date(2026, 12, 14)  # Monday after the requests: pending and confirmed bookings
EVENING = "20:00"  # DAY0: services given (from 11:00, after the listing was approved) are recorded and claimed


@dataclass(frozen=True)
class Person:
    """What the test needs of an account, read once (ORM objects expire with every rolled-back request)."""

    id: int
    username: str
    email: str
    totp_secret: str | None

    @classmethod
    def of(cls, user) -> "Person":
        return cls(user.id, user.username, user.email, user.totp_secret)


@dataclass(frozen=True)
class Org:
    id: int
    uscc: str


@dataclass
class Side:
    """One side's organisations, people and object ids (by kind, as URL parameters)."""

    enterprise: object
    unit: object
    authority: object
    people: dict
    refs: dict = field(default_factory=dict)


@dataclass
class World:
    users: dict  # principal -> Person
    sides: dict  # "own" / "other" -> Side
    extra: dict  # secrets and ids that are not per side
    bearers: dict = field(default_factory=dict)  # principal -> API token
    spare_tokens: dict = field(default_factory=dict)  # user id -> id of an API token the user may revoke
    notifications: dict = field(default_factory=dict)  # user id -> id of one of the user's notifications

    def refs(self, kind: str, side: str, principal: str) -> dict:
        """The ids of the object of `kind` on `side` as the principal addresses it."""
        if kind in ("token", "notification"):  # the principal's own, or somebody else's
            per_user = self.spare_tokens if kind == "token" else self.notifications
            user = self.users.get(principal, self.sides["own"].people["sme"]) if side == "own" else \
                self.sides["other"].people["sme"]
            return {"token_id" if kind == "token" else "notification_id": per_user[user.id]}
        return self.sides[side].refs[kind]


def _set(clock, when: datetime) -> None:
    clock.move(seconds=(when - clock.now).total_seconds())


def _tx(fn, *args, **kwargs):
    with db.transaction():
        return fn(*args, **kwargs)


def build_world(factory: Factory, clock) -> World:
    _set(clock, local(DAY0, "10:00"))
    commission = factory.org("commission", name="南京市科学技术局")
    staff = {AUDITOR: "commission_auditor", OFFICER: "commission_officer", SYSADMIN: "system_admin",
             SECADMIN: "security_admin", AUDITADMIN: "audit_admin"}
    people = {name: factory.user(commission, (role,), totp=True) for name, role in staff.items()}
    policy = make_policy(people[OFFICER])
    university = factory.org("university", name="南京测试大学")
    people[OPERATOR_OTHER] = factory.user(university, ("provider_operator",), manager=True)
    enterprise_b = factory.org("enterprise", sme=sme_profile(), name="另一家企业")
    people[SME_OTHER] = factory.user(enterprise_b, ("sme_user",), manager=True, totp=True)
    authority_2 = factory.org("authority", name="另一个主管部门")
    people[OTHER_AUTHORITY_APPROVER] = factory.user(authority_2, ("defence_approver",), manager=True, totp=True)

    own = _side(factory, "甲", civilian=(university, people[OPERATOR_OTHER]))
    other_uni = factory.org("university", name="第三所大学")
    other = _side(factory, "乙", civilian=(other_uni, factory.user(other_uni, ("provider_operator",))))
    sides = {"own": own, "other": other}
    people |= {SME: own.people["sme"], OPERATOR: own.people["operator"], UNIT_APPROVER: own.people["reviewer"],
               AUTHORITY_APPROVER: own.people["approver"]}
    for s in sides.values():
        _bookings(s)
    _set(clock, local(DAY0, EVENING))
    for s in sides.values():
        _ledger(s)
        _claims(s, policy, people[AUDITOR])
    _set(clock, local(NO_SHOW_DAY, "12:30"))  # the 10:00 booking's user never came
    lifecycle.mark_no_shows()
    _set(clock, local(NO_SHOW_DAY, "14:05"))  # the 14:00 booking's user arrives
    for s in sides.values():
        _tx(bookings.start, actor=s.people["operator"], booking=db.session.get(Booking, s.refs["in_progress_booking"]
                                                                              ["booking_id"]))
    _set(clock, local(REQUESTS_DAY, "10:00"))  # the requests

    world = World(people, sides, {"policy_id": policy.id, "enterprise_b": enterprise_b, "fresh_uscc": valid_uscc(),
                                  "totp": factory.totp_code})
    _secrets(factory, world)
    return _frozen(world)


def _frozen(world: World) -> World:
    """Plain values instead of ORM objects, which expire with every rolled-back request."""
    world.users = {name: Person.of(db.session.merge(user)) for name, user in world.users.items()}
    for side in world.sides.values():
        side.people = {name: Person.of(db.session.merge(user)) for name, user in side.people.items()}
        for name in ("enterprise", "unit", "authority"):
            org = db.session.merge(getattr(side, name))
            setattr(side, name, Org(org.id, org.uscc))
    org = db.session.merge(world.extra["enterprise_b"])
    world.extra["enterprise_b"] = Org(org.id, org.uscc)
    return world


def _side(factory: Factory, tag: str, civilian) -> Side:
    authority = factory.org("authority", name=f"国防科工主管部门{tag}")
    unit = factory.org("defence_unit", superior=authority, name=f"军工研究所{tag}")
    enterprise = factory.org("enterprise", sme=sme_profile(), name=f"创新科技有限公司{tag}")
    people = {
        "approver": factory.user(authority, ("defence_approver",), manager=True, totp=True),
        "operator": factory.user(unit, ("provider_operator",), manager=True),
        "op2": factory.user(unit, ("provider_operator",)),
        "reviewer": factory.user(unit, ("defence_approver",), totp=True),
        "sme": factory.user(enterprise, ("sme_user",), manager=True),
        "colleague": factory.user(enterprise, ("sme_user",)),
        "disabled": factory.user(enterprise, ("sme_user",)),
    }
    with db.transaction():
        db.session.merge(people["disabled"]).is_disabled = True
    side = Side(enterprise, unit, authority, people)
    pending = factory.org("enterprise", verified=False, name=f"待核验企业{tag}")
    _catalogue(side, civilian)
    side.refs |= {
        "enterprise": {"org_id": enterprise.id}, "unit": {"org_id": unit.id}, "pending_org": {"org_id": pending.id},
        "cleared": {"org_id": unit.id, "organization_id": enterprise.id},
        "colleague": {"user_id": people["colleague"].id}, "disabled_colleague": {"user_id": people["disabled"].id},
    }
    return side


def _catalogue(side: Side, civilian) -> None:
    """D's listings in each state, its closed period, clearance, resource and uploaded catalogue file."""
    p, unit = side.people, side.unit
    drafter = Unit(unit, p["op2"], p["reviewer"], side.authority, p["approver"])  # the reviewer never drafts
    published = publish_defence(drafter, ALL_PUBLIC, service_modes=ALL_MODES)
    suspended = publish_defence(drafter, ALL_PUBLIC, name_zh="暂停的仪器")
    _tx(listings.suspend, actor=p["operator"], instrument=suspended, reason="检修")
    in_review = submit(drafter, create(drafter, name_zh="待审查的仪器"))
    reviewed = review(drafter, submit(drafter, create(drafter, name_zh="待批准的仪器")), ALL_PUBLIC)
    draft = create(drafter, name_zh="草稿仪器")
    civilian_draft = create(Unit(*civilian), name_zh="民用仪器草稿")
    closed = {"start": "2027-01-04T00:00:00+08:00", "end": "2027-01-05T00:00:00+08:00", "reason": "年度检修"}
    _tx(ruleset.set_rules, actor=p["operator"], instrument=published, payload={"blackouts": [closed]})
    blackout = ruleset.blackouts_of(published.id)[0]
    with db.transaction():
        clearances.grant(actor=p["operator"], unit=unit, organization_id=side.enterprise.id, agreement_version="v1")
        resource = resources.create(actor=p["operator"], organization_id=unit.id, values={
            "kind": "service_agency", "name_zh": "未公开的服务机构", "is_published": False})
        upload = store(csv_bytes(table([row(1)])), "catalogue.csv", purpose=importer.PURPOSE,
                       organization_id=unit.id, created_by_id=p["operator"].id)
        job = import_jobs.queue(p["operator"], unit, upload, dry_run=True)  # a background check, found faulty
        job.status, job.problem_count = "failed", 1
        job.problems = import_jobs.encode_problems([importer.Problem(2, "仪器名称", "name_zh", "必填")])
    side.refs |= {
        "published": {"instrument_id": published.id}, "draft": {"instrument_id": draft.id},
        "in_review": {"instrument_id": in_review.id}, "reviewed": {"instrument_id": reviewed.id},
        "suspended": {"instrument_id": suspended.id}, "civilian_draft": {"instrument_id": civilian_draft.id},
        "blackout": {"instrument_id": published.id, "blackout_id": blackout.id},
        "resource": {"resource_id": resource.id}, "import_file": {"file_id": upload.id},
        "import_job": {"job_id": job.id},
    }


def _book(side: Side, day: date, start: str, end: str, *, confirm: bool) -> int:
    instrument_id = side.refs["published"]["instrument_id"]
    with db.transaction():
        booking = bookings.create_booking(actor=side.people["sme"], req=bookings.Request(
            instrument_id, "machine_time", start=local(day, start), end=local(day, end)))
        if confirm:
            bookings.confirm(actor=side.people["operator"], booking=booking)
    return booking.id


def _bookings(side: Side) -> None:
    side.refs |= {
        "no_show_booking": {"booking_id": _book(side, NO_SHOW_DAY, "10:00", "11:00", confirm=True)},
        "in_progress_booking": {"booking_id": _book(side, NO_SHOW_DAY, "14:00", "15:00", confirm=True)},
        "pending_booking": {"booking_id": _book(side, LATER, "10:00", "11:00", confirm=False)},
        "confirmed_booking": {"booking_id": _book(side, LATER, "14:00", "15:00", confirm=True)},
    }


def _service(side: Side, slot: int, *, paid: bool, minutes: int = 60):
    """A machine-time service for the enterprise on DAY0, from 11:00 + `slot` hours (paid in full when `paid`)."""
    operator = side.people["operator"]
    start = local(DAY0, f"{11 + slot:02d}:00")
    with db.transaction():
        record = service_records.record_standalone(
            actor=operator, instrument=db.session.get(Instrument, side.refs["published"]["instrument_id"]),
            organization=db.session.merge(side.enterprise), mode="machine_time", actual_start=start,
            actual_end=start + timedelta(minutes=minutes))
        if paid:
            entries.append_entry(actor=operator, record=record, kind="payment", amount_fen=record.fee_fen,
                                 entry_date=DAY0, invoice_no=f"FP-{side.unit.id}-{slot}")
    return record


def _ledger(side: Side) -> None:
    record, disputed = _service(side, 0, paid=False), _service(side, 1, paid=False)
    big = _service(side, 2, paid=False, minutes=240)
    with db.transaction():
        disputes.raise_dispute(actor=side.people["sme"], record=db.session.merge(disputed), reason="时长有误")
        adjustment = entries.append_entry(actor=side.people["op2"], record=db.session.merge(big), kind="adjustment",
                                          direction="credit", amount_fen=150_000, entry_date=DAY0, reason="折扣")
        report = generation.generate(2026, 2, unit_id=side.unit.id, formats=("csv",))[0]  # the unit's stored report
    side.refs |= {"record": {"service_record_id": record.id}, "disputed_record": {"service_record_id": disputed.id},
                  "adjustment": {"adjustment_request_id": adjustment.id}, "report": {"report_id": report.id},
                  "free_record": {"service_record_id": _service(side, 7, paid=True).id}}


def _claims(side: Side, policy, auditor) -> None:
    sme = side.people["sme"]

    def claim(slot: int, *steps: str):
        record = _service(side, slot, paid=True)
        with db.transaction():
            made = claims.create_draft(actor=sme, policy=db.session.merge(policy), record_ids=[record.id])
            evidence = claims.add_evidence(actor=sme, claim=made, file=Upload())
        for step in steps:
            with db.transaction():
                made = db.session.merge(made)
                if step == "submit":
                    claims.submit(actor=sme, claim=made, contract_nos=[], invoice_nos=[])
                else:
                    getattr(workflow, step)(actor=db.session.merge(auditor), claim=made)
        return made.id, evidence.file_id, record.id

    draft, _file, draft_record = claim(3)
    submitted, evidence_file, _record = claim(4, "submit")
    under_review, _file, _record = claim(5, "submit", "review")
    approved, _file, _record = claim(6, "submit", "review", "approve")
    side.refs |= {"draft_claim": {"claim_id": draft, "service_record_id": draft_record},
                  "submitted_claim": {"claim_id": submitted},
                  "review_claim": {"claim_id": under_review}, "approved_claim": {"claim_id": approved},
                  "evidence": {"claim_id": submitted, "file_id": evidence_file}}


def _secrets(factory: Factory, world: World) -> None:
    """Per-principal objects and the single-use links, made at the time of the requests."""
    own = world.sides["own"]
    with db.transaction():
        for name, user in world.users.items():
            world.bearers[name] = tokens.create_token(db.session.merge(user), "matrix")[1]
        for user in [*world.users.values(), world.sides["other"].people["sme"]]:
            user = db.session.merge(user)
            token, _secret = tokens.create_token(user, "spare")
            world.spare_tokens[user.id] = token.id
            note = Notification(user_id=user.id, kind="test", message="测试通知")
            db.session.add(note)
            db.session.flush()
            world.notifications[user.id] = note.id
        sme = db.session.merge(own.people["sme"])
        world.extra["calendar_token"] = calendars.rotate_token(sme)
        world.extra["invitation_token"] = users.invite(actor=sme, org=sme.organization, email="new@example.cn",
                                                       role="sme_user").secret
        auth.request_password_reset(own.people["colleague"].email)
        organizations.create_organization(
            actor=None, name="自行注册的企业", uscc=valid_uscc(), kind="enterprise",
            first_user=organizations.FirstUser("registrant", "a long enough passphrase", "registrant@example.cn"))
    world.extra["reset_token"] = factory.link_from_mail(own.people["colleague"].email, "password/reset/").rsplit(
        "/", 1)[-1]
    world.extra["confirm_token"] = factory.link_from_mail("registrant@example.cn", "confirm/").rsplit("/", 1)[-1]
