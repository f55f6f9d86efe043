"""HTML forms of the booking pages (shape only: the booking services check every rule) and the placing of a
refusal next to the field it concerns."""

import secrets
from datetime import datetime, time
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError

from ..core.errors import DomainError
from ..forms import Form
from .contracts import TERM_FIELDS
from .ruleset import LIMITS, QUOTA_HOURS_MAX
from .week import WEEKDAYS

HHMM = Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", message=_l("A time like 09:30."))
NONCE = Regexp(r"^[A-Za-z0-9_-]{16,64}$", message=_l("This form is out of date; reload the page."))
WINDOWS_PER_DAY = 2


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def _clock(raw: str) -> time:
    return time.fromisoformat(raw)


def sane_date(_form, field) -> None:
    """Dates far outside the platform's years are typing mistakes (and would overflow time arithmetic)."""
    if field.data is not None and not 2000 <= field.data.year <= 2199:
        raise ValidationError(_("Choose a date."))


class TimeBookingForm(Form):
    """Machine time or an experiment: a date and a start and end time (local)."""

    mode = SelectField(_l("Service mode"), choices=[], validate_choice=False, validators=[DataRequired()])
    date = DateField(_l("Date"), validators=[InputRequired(message=_l("Choose a date.")), sane_date])
    start = StringField(_l("Start"), validators=[DataRequired(message=_l("A time like 09:30.")), HHMM],
                        render_kw={"type": "time"})
    end = StringField(_l("End"), validators=[DataRequired(message=_l("A time like 09:30.")), HHMM],
                      render_kw={"type": "time"})
    nonce = HiddenField(validators=[DataRequired(message=_l("This form is out of date; reload the page.")), NONCE])

    def validate_end(self, field):
        if not self.start.errors and self.start.data and HHMM.regex.match(self.start.data or "") and \
                HHMM.regex.match(field.data or "") and _clock(field.data) <= _clock(self.start.data):
            raise ValidationError(_("The end must be after the start."))

    def interval(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        return (datetime.combine(self.date.data, _clock(self.start.data), zone),
                datetime.combine(self.date.data, _clock(self.end.data), zone))


class SampleOrderForm(Form):
    """Sample or statutory testing: a number of samples and the date the results are wanted by."""

    mode = SelectField(_l("Service mode"), choices=[], validate_choice=False, validators=[DataRequired()])
    samples = IntegerField(_l("Number of samples"), validators=[
        InputRequired(message=_l("Give the number of samples (1–10000).")),
        NumberRange(min=1, max=10000, message=_l("Give the number of samples (1–10000)."))])
    wanted_by = DateField(_l("Results wanted by"), validators=[InputRequired(message=_l("Choose a date.")),
                                                                sane_date])
    nonce = HiddenField(validators=[DataRequired(message=_l("This form is out of date; reload the page.")), NONCE])


def check_mode(form, allowed: tuple[str, ...]) -> bool:
    """A mode of the form's kind (time or samples); whether the instrument offers it is the service's rule."""
    if form.mode.data not in allowed:
        form.mode.errors = [*form.mode.errors, _("Choose a service mode.")]
        return False
    return True


class ReasonForm(Form):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=1000)])


class CancelForm(Form):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=1000)])
    confirm_late = HiddenField()


class RulesForm(Form):
    """The whole rule set: opening windows per weekday, the numeric limits, confirmation, quota."""

    min_minutes = IntegerField(_l("Minimum length (minutes)"), validators=[InputRequired()])
    max_minutes = IntegerField(_l("Maximum length (minutes)"), validators=[InputRequired()])
    granularity_minutes = IntegerField(_l("Time step (minutes)"), validators=[InputRequired()])
    min_notice_hours = IntegerField(_l("Minimum notice (hours)"), validators=[InputRequired()])
    max_horizon_days = IntegerField(_l("Bookable ahead (days)"), validators=[InputRequired()])
    buffer_minutes = IntegerField(_l("Buffer between bookings (minutes)"), validators=[InputRequired()])
    cancel_notice_hours = IntegerField(_l("Cancellation notice (hours)"), validators=[InputRequired()])
    quota_hours_per_org = IntegerField(_l("Quota of future hours per organisation (empty: none)"),
                                       validators=[Optional(), NumberRange(min=1, max=QUOTA_HOURS_MAX)])
    needs_confirmation = BooleanField(_l("Requests need our confirmation"))

    def window_fields(self) -> list[tuple[str, list[tuple]]]:
        """(weekday name, [(start field, end field), ...]) for Monday to Sunday."""
        return [(name, [(self[f"open_{d}_{i}_start"], self[f"open_{d}_{i}_end"]) for i in range(WINDOWS_PER_DAY)])
                for d, name in enumerate(WEEKDAYS)]

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        for _name, pairs in self.window_fields():
            for start, end in pairs:
                if bool(start.data) != bool(end.data):
                    (end if start.data else start).errors.append(_("Give both the opening and the closing time."))
                    ok = False
                elif start.data and not start.errors and not end.errors and _clock(end.data) <= _clock(start.data):
                    end.errors.append(_("The end must be after the start."))
                    ok = False
        return ok

    def payload(self, blackouts: list[dict]) -> dict:
        opening = []
        for d in range(7):
            for i in range(WINDOWS_PER_DAY):
                start, end = self[f"open_{d}_{i}_start"].data, self[f"open_{d}_{i}_end"].data
                if start and end:
                    opening.append({"weekday": d, "start": start, "end": end})
        return {name: self[name].data for name in LIMITS} | {
            "opening_hours": opening, "blackouts": blackouts, "needs_confirmation": bool(self.needs_confirmation.data),
            "quota_hours_per_org": self.quota_hours_per_org.data}


for _d in range(7):
    for _i in range(WINDOWS_PER_DAY):
        setattr(RulesForm, f"open_{_d}_{_i}_start", StringField(_l("Opens"), validators=[Optional(), HHMM],
                                                                render_kw={"type": "time"}))
        setattr(RulesForm, f"open_{_d}_{_i}_end", StringField(_l("Closes"), validators=[Optional(), HHMM],
                                                              render_kw={"type": "time"}))


def rules_form_data(rules: dict) -> dict:
    """Form values from ruleset.rules_json."""
    data = {name: rules[name] for name in LIMITS} | {"needs_confirmation": rules["needs_confirmation"],
                                                     "quota_hours_per_org": rules["quota_hours_per_org"]}
    used: dict[int, int] = {}
    for window in sorted(rules["opening_hours"], key=lambda w: (w["weekday"], w["start"])):
        i = used.get(window["weekday"], 0)
        if i < WINDOWS_PER_DAY:
            data[f"open_{window['weekday']}_{i}_start"], data[f"open_{window['weekday']}_{i}_end"] = \
                window["start"], window["end"]
        used[window["weekday"]] = i + 1
    return data


class BlackoutForm(Form):
    start_date = DateField(_l("From (date)"), validators=[InputRequired(message=_l("Choose a date.")), sane_date])
    start_time = StringField(_l("From (time)"), default="00:00", validators=[DataRequired(), HHMM],
                             render_kw={"type": "time"})
    end_date = DateField(_l("Until (date)"), validators=[InputRequired(message=_l("Choose a date.")), sane_date])
    end_time = StringField(_l("Until (time)"), default="23:59", validators=[DataRequired(), HHMM],
                           render_kw={"type": "time"})
    reason = StringField(_l("Reason (holiday, maintenance …)"), validators=[Optional(), Length(max=200)])

    def validate_end_time(self, field):
        if self.start_date.data and self.end_date.data and not self.start_time.errors and \
                HHMM.regex.match(self.start_time.data or "") and HHMM.regex.match(field.data or "") and \
                (self.end_date.data, _clock(field.data)) <= (self.start_date.data, _clock(self.start_time.data)):
            raise ValidationError(_("The end must be after the start."))

    def interval(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        return (datetime.combine(self.start_date.data, _clock(self.start_time.data), zone),
                datetime.combine(self.end_date.data, _clock(self.end_time.data), zone))


class ContractTemplateForm(Form):
    service_terms = TextAreaField(_l("1. Service content"), validators=[DataRequired(), Length(max=5000)])
    ip_terms = TextAreaField(_l("2. Intellectual property"), validators=[DataRequired(), Length(max=5000)])
    confidentiality_terms = TextAreaField(_l("3. Confidentiality"), validators=[DataRequired(), Length(max=5000)])
    damages_terms = TextAreaField(_l("4. Damages"), validators=[DataRequired(), Length(max=5000)])
    dispute_terms = TextAreaField(_l("5. Disputes"), validators=[DataRequired(), Length(max=5000)])

    def terms(self) -> dict[str, str]:
        return {name: self[name].data or "" for name in TERM_FIELDS}


# A refused booking request: the field the broken rule concerns, and the rule with its limit.
REFUSAL_FIELDS = {"too_short": "end", "too_long": "end", "quota_exceeded": "end", "not_on_granularity": "start",
                  "notice_too_short": "start", "outside_opening_hours": "start", "booking_conflict": "start",
                  "beyond_horizon": "date", "in_blackout": "date", "mode_not_offered": "mode"}


def refusal_text(exc: DomainError) -> str:
    limits = exc.extra.get("limits") or {}
    code = exc.code
    if code == "too_short" and "min_minutes" in limits:
        return _("Too short: at least %(n)d minutes (rule: minimum length).", n=limits["min_minutes"])
    if code == "too_long" and "max_minutes" in limits:
        return _("Too long: at most %(n)d minutes (rule: maximum length).", n=limits["max_minutes"])
    if code == "not_on_granularity" and "granularity_minutes" in limits:
        return _("Start and length go in steps of %(n)d minutes (rule: time step).", n=limits["granularity_minutes"])
    if code == "notice_too_short" and "min_notice_hours" in limits:
        return _("Too soon: book at least %(n)d hours ahead (rule: minimum notice).", n=limits["min_notice_hours"])
    if code == "beyond_horizon" and "max_horizon_days" in limits:
        return _("Too far ahead: at most %(n)d days (rule: booking horizon).", n=limits["max_horizon_days"])
    if code == "quota_exceeded" and "quota_hours_per_org" in limits:
        return _("Your organisation's quota of %(n)d future hours would be exceeded (rule: quota).",
                 n=limits["quota_hours_per_org"])
    if code == "in_blackout":
        reason = limits.get("reason") or ""
        return _("Closed then: %(reason)s (rule: blackout).", reason=reason) if reason else \
            _("Closed then (rule: blackout).")
    if code == "outside_opening_hours":
        return _("Outside the opening hours (rule: opening hours).")
    if code == "booking_conflict":
        spans = exc.extra.get("conflicts") or []
        if spans:
            first = spans[0]
            return _("Overlaps a booking from %(start)s to %(end)s.", start=first["start"][:16].replace("T", " "),
                     end=first["end"][:16].replace("T", " "))
        return _("Overlaps another booking.")
    if code == "mode_not_offered":
        return _("This instrument does not offer this service mode.")
    return exc.message


def place_refusal(exc: DomainError, form) -> bool:
    """Put a booking refusal next to its field; True when placed (otherwise the caller flashes it)."""
    name = REFUSAL_FIELDS.get(exc.code)
    fields = {name: refusal_text(exc)} if name else dict(exc.fields)
    placed = False
    for field_name, problem in fields.items():
        field = getattr(form, field_name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, problem]
            placed = True
    return placed
