"""HTML forms of the ledger pages (shape only: the ledger services check every rule). Money is typed in yuan and
becomes fen here; times are local dates and HH:MM."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from ..bookings.forms import HHMM, sane_date
from ..forms import Form, YuanField

TIME_REQUIRED = _l("A time like 09:30.")
DATE_REQUIRED = _l("Choose a date.")


class ServiceTimesForm(Form):
    """Actual start and end (local), samples processed, result delivered: a service from a booking."""

    start_date = DateField(_l("Actual start date"), validators=[InputRequired(message=DATE_REQUIRED), sane_date])
    start_time = StringField(_l("Actual start time"), validators=[DataRequired(message=TIME_REQUIRED), HHMM],
                             render_kw={"type": "time"})
    end_date = DateField(_l("Actual end date"), validators=[InputRequired(message=DATE_REQUIRED), sane_date])
    end_time = StringField(_l("Actual end time"), validators=[DataRequired(message=TIME_REQUIRED), HHMM],
                           render_kw={"type": "time"})
    samples = IntegerField(_l("Samples processed"), validators=[Optional(), NumberRange(min=0, max=1_000_000)])
    result_delivered_on = DateField(_l("Result delivered on"), validators=[Optional(), sane_date])

    def interval(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        return (datetime.combine(self.start_date.data, time.fromisoformat(self.start_time.data), zone),
                datetime.combine(self.end_date.data, time.fromisoformat(self.end_time.data), zone))


class StandaloneRecordForm(ServiceTimesForm):
    """A service arranged outside the platform, or the unit's own use."""

    instrument_id = SelectField(_l("Instrument"), coerce=int, choices=[], validators=[InputRequired()])
    organization_uscc = StringField(_l("User organisation (unified social credit code)"),
                                    validators=[Optional(), Length(min=18, max=18)])
    mode = SelectField(_l("Service mode"), choices=[], validators=[DataRequired()])


class EntryForm(Form):
    kind = SelectField(_l("Kind"), choices=[])
    direction = SelectField(_l("Direction (adjustments)"), choices=[], validators=[Optional()])
    amount = YuanField(_l("Amount (yuan)"), validators=[InputRequired(message=_l("Give the amount."))])
    entry_date = DateField(_l("Date"), validators=[InputRequired(message=DATE_REQUIRED), sane_date])
    invoice_no = StringField(_l("Invoice number"), validators=[Optional(), Length(max=64)])
    payment_ref = StringField(_l("Payment reference"), validators=[Optional(), Length(max=100)])
    reason = TextAreaField(_l("Reason (required for adjustments)"), validators=[Optional(), Length(max=2000)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Choices set here: wtforms warns about tuples given to the field's constructor.
        self.kind.choices = [("payment", _("Payment received")), ("refund", _("Refund")),
                             ("adjustment", _("Adjustment")), ("charge", _("Further charge"))]
        self.direction.choices = [("", "—"), ("credit", _("Credit (in the user's favour)")),
                                  ("debit", _("Debit (the user owes more)"))]


class ApproveForm(Form):
    """Only the CSRF token: approving needs no input."""


class ReasonForm(Form):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(message=_l("Give the reason.")), Length(max=2000)])


class AnswerForm(Form):
    answer = TextAreaField(_l("Answer"), validators=[DataRequired(message=_l("Give the answer.")), Length(max=2000)])


class RatingForm(Form):
    score = SelectField(_l("Score"), coerce=int, choices=[])
    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=2000)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.score.choices = [(n, str(n)) for n in (5, 4, 3, 2, 1)]
