"""The load of the fault-injection runs (tests/faults.py): virtual users that book (with Idempotency-Key), record
services, take payments and claim vouchers through the HTTP API of real gunicorn workers, and read pages and lists.

Every HTTP exchange is kept as a Call, every write acknowledged with 2xx as an Ack, so the checks afterwards can
look for each acknowledged write in the database. Only bookings are retried (with the same key, which is what the
key is for); a service record, payment or claim step whose answer was lost is not sent again, so a second copy of
one of those in the database would be a fault of the platform, not of the client.
"""

import http.client
import itertools
import json
import random
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")
RETRY_SECONDS = 25  # how long a booking is retried with its key before the client gives up ...
RETRY_AFTER_END = 5  # ... or this long after the end of the run
WEIGHTS = {"book": 35, "record": 20, "pay": 15, "claim": 10, "read": 20}
SLOTS_PER_DAY = 20  # half hours from 08:00 to 18:00, the opening hours of the load's instruments


@dataclass
class Call:
    user: int
    action: str  # book | record | pay | claim | evidence | submit | read | page | login
    write: bool
    status: int  # 0: no HTTP answer (connection refused or dropped)
    error: str | None  # the JSON error code, or the exception when nothing was answered
    well_formed: bool  # a JSON error is {"error", "message", "fields"}; a page error is an HTML page
    started: float
    ended: float


@dataclass
class Ack:
    """A write answered with 2xx: `kind` booking | record | payment | claim | evidence | submitted."""

    kind: str
    id: int
    key: str | None = None
    detail: dict = field(default_factory=dict)


@dataclass
class Person:
    sme_token: str
    operator_token: str
    username: str
    password: str
    organization_id: int
    instrument_id: int
    cookie: str | None = None  # the signed-in browser session for the page reads


@dataclass
class World:
    people: list[Person]
    instruments: list[int]
    policy_id: int
    first_day: date  # the first local day of booking slots
    t0: datetime  # service records start at t0 + n ms: unique, after the listings were published
    run: str


@dataclass
class Mine:
    """What one virtual user has been acknowledged so far and may build on."""

    unpaid: list = field(default_factory=list)  # (record id, fee)
    paid: list = field(default_factory=list)  # record ids


def send(port: int, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None,
         timeout: float = 60) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def _is_error_json(data) -> bool:
    return isinstance(data, dict) and {"error", "message", "fields"} <= set(data) and isinstance(data["fields"], dict)


class Load:
    def __init__(self, port: int, world: World, *, seconds: float, think: float = 0.05):
        self.port, self.world, self.think = port, world, think
        self.began = time.monotonic()
        self.deadline = self.began + seconds
        self.lock = threading.Lock()
        self.calls: list[Call] = []
        self.acks: list[Ack] = []
        self.slots = {i: itertools.count() for i in world.instruments}
        self.booking_keys: dict[str, tuple[int, datetime]] = {}  # key -> (instrument, start) it books
        self.unresolved_keys: list[str] = []  # bookings whose retries ran out without a final answer
        self.numbers = itertools.count(1)

    # ------------------------------------------------------------------ HTTP

    def call(self, user: int, action: str, method: str, path: str, *, write: bool, token: str | None = None,
             payload=None, raw: bytes | None = None, headers: dict | None = None, cookie: str | None = None):
        """One exchange, recorded; returns (status, parsed JSON or None, headers)."""
        head = dict(headers or {})
        if token:
            head["Authorization"] = f"Bearer {token}"
        if cookie:
            head["Cookie"] = cookie
        if payload is not None:
            raw, head["Content-Type"] = json.dumps(payload).encode(), "application/json"
        started = time.monotonic()
        data, answer_headers, error, well_formed = None, {}, None, True
        try:
            status, answer_headers, content = send(self.port, method, path, body=raw, headers=head)
        except (OSError, http.client.HTTPException) as exc:
            status, content, error = 0, b"", type(exc).__name__
        if status and "json" in answer_headers.get("content-type", ""):
            try:
                data = json.loads(content)
            except ValueError:
                data = None
            if status >= 400:
                well_formed = _is_error_json(data)
                error = data.get("error") if isinstance(data, dict) else "unparsable"
        elif status >= 400:
            # Pages answer errors as HTML pages; the API always as JSON.
            well_formed = not path.startswith("/api/") and b"<html" in content[:400]
            error = "html" if well_formed else "unparsable"
        with self.lock:
            self.calls.append(Call(user, action, write, status, error, well_formed, started, time.monotonic()))
        return status, data, answer_headers

    def ack(self, ack: Ack) -> None:
        with self.lock:
            self.acks.append(ack)

    # ------------------------------------------------------------------ the virtual users

    def run(self) -> None:
        threads = [threading.Thread(target=self.user, args=(i,), daemon=True) for i in range(len(self.world.people))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(RETRY_SECONDS + 120 + max(0.0, self.deadline - time.monotonic()))

    def user(self, i: int) -> None:
        rng = random.Random(i)
        mine = Mine()
        while time.monotonic() < self.deadline:
            choices = [a for a in WEIGHTS if (a != "pay" or mine.unpaid) and (a != "claim" or mine.paid)]
            action = rng.choices(choices, [WEIGHTS[a] for a in choices])[0]
            getattr(self, action)(i, rng, mine)
            time.sleep(rng.uniform(0, 2 * self.think))

    def book(self, i: int, rng, mine: Mine) -> None:
        person = self.world.people[i]
        n = next(self.slots[person.instrument_id])
        day = self.world.first_day + timedelta(days=n // SLOTS_PER_DAY)
        start = datetime(day.year, day.month, day.day, 8, tzinfo=TZ) + timedelta(minutes=30 * (n % SLOTS_PER_DAY))
        key = f"{self.world.run}-b{i}-{next(self.numbers)}"
        self.booking_keys[key] = (person.instrument_id, start)
        body = {"instrument_id": person.instrument_id, "mode": "machine_time", "start": start.isoformat(),
                "end": (start + timedelta(minutes=30)).isoformat()}
        give_up, delay = min(time.monotonic() + RETRY_SECONDS, self.deadline + RETRY_AFTER_END), 0.25
        while True:
            status, data, _h = self.call(i, "book", "POST", "/api/v1/bookings", write=True,
                                         token=person.sme_token, payload=body, headers={"Idempotency-Key": key})
            if status == 201:
                self.ack(Ack("booking", data["id"], key, {"instrument_id": person.instrument_id, "start": start}))
                return
            retry = status in (0, 503) or (status == 409 and (data or {}).get("error") == "request_in_flight")
            if not retry:
                return  # a final answer (a 4xx refusal)
            if time.monotonic() + delay > give_up:
                self.unresolved_keys.append(key)
                return
            time.sleep(delay)
            delay = min(delay * 2, 4)

    def record(self, i: int, rng, mine: Mine) -> None:
        person = self.world.people[i]
        start = self.world.t0 + timedelta(milliseconds=next(self.numbers))
        body = {"instrument_id": person.instrument_id, "organization_id": person.organization_id,
                "mode": "sample_testing", "actual_start": start.isoformat(),
                "actual_end": (start + timedelta(seconds=1)).isoformat(), "samples": rng.randint(1, 3)}
        status, data, _h = self.call(i, "record", "POST", "/api/v1/service-records", write=True,
                                     token=person.operator_token, payload=body)
        if status == 201:
            self.ack(Ack("record", data["id"], None, {"actual_start": start, "fee_fen": data["fee_fen"]}))
            mine.unpaid.append((data["id"], data["fee_fen"]))

    def pay(self, i: int, rng, mine: Mine) -> None:
        person = self.world.people[i]
        record_id, fee = mine.unpaid.pop(0)
        ref = f"{self.world.run}-p{next(self.numbers)}"
        body = {"service_record_id": record_id, "kind": "payment", "amount_fen": fee,
                "entry_date": datetime.now(TZ).date().isoformat(), "payment_ref": ref}
        status, data, _h = self.call(i, "pay", "POST", "/api/v1/revenue-entries", write=True,
                                     token=person.operator_token, payload=body)
        if status == 201:
            self.ack(Ack("payment", data["id"], ref, {"amount_fen": fee, "service_record_id": record_id}))
            mine.paid.append(record_id)

    def claim(self, i: int, rng, mine: Mine) -> None:
        """Draft, evidence, submit: three writes; the first one refused or lost ends the attempt."""
        person = self.world.people[i]
        records, mine.paid = mine.paid[:2], mine.paid[2:]
        status, data, _h = self.call(i, "claim", "POST", "/api/v1/voucher-claims", write=True,
                                     token=person.sme_token,
                                     payload={"policy_id": self.world.policy_id, "service_record_ids": records})
        if status != 201:
            return
        claim_id = data["id"]
        self.ack(Ack("claim", claim_id, None, {"records": records}))
        boundary = f"faults{next(self.numbers)}"
        raw = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"proof.pdf\"\r\n"
               f"Content-Type: application/pdf\r\n\r\n%PDF-1.4 payment proof {claim_id}\r\n--{boundary}--\r\n")
        status, data, _h = self.call(i, "evidence", "POST", f"/api/v1/voucher-claims/{claim_id}/evidence",
                                     write=True, token=person.sme_token, raw=raw.encode(),
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        if status != 201:
            return
        self.ack(Ack("evidence", data["id"], None, {"claim_id": claim_id}))
        invoice = f"{self.world.run}-i{next(self.numbers)}"
        status, data, _h = self.call(i, "submit", "POST", f"/api/v1/voucher-claims/{claim_id}/submit", write=True,
                                     token=person.sme_token,
                                     payload={"contract_nos": [f"HT-{claim_id}"], "invoice_nos": [invoice]})
        if status == 200:
            self.ack(Ack("submitted", claim_id, invoice, {"subsidy_fen": data["subsidy_fen"]}))

    def read(self, i: int, rng, mine: Mine) -> None:
        person = self.world.people[i]
        if person.cookie and rng.random() < 0.5:
            self.call(i, "page", "GET", "/profile/", write=False, cookie=person.cookie)
        else:
            self.call(i, "read", "GET", "/api/v1/bookings?per_page=5", write=False, token=person.sme_token)


def sign_in(port: int, person: Person) -> None:
    """Sign in through the login form, as a browser does, for the page reads (before the faults start)."""
    status, headers, content = send(port, "GET", "/login")
    match = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', content)
    cookie = _session_cookie(headers)
    if status != 200 or not match or not cookie:
        return
    form = urlencode({"username": person.username, "password": person.password,
                      "csrf_token": match.group(1).decode()}).encode()
    status, headers, _content = send(port, "POST", "/login", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    if status == 302 and "/login" not in headers.get("location", "/login"):
        person.cookie = _session_cookie(headers) or cookie


def _session_cookie(headers: dict) -> str | None:
    match = re.match(r"\s*([^=;,\s]*session)=([^;]*)", headers.get("set-cookie", ""))
    return f"{match.group(1)}={match.group(2)}" if match else None
