"""HTML forms of the voucher pages (shape only: the voucher services check every rule)."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, HiddenField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ..core.money import FEN_PER_YUAN
from ..db import id_from_text
from ..forms import Form, YuanField

VOUCHER_MODES = ("machine_time", "sample_testing", "experiment")


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def sane_date(_form, field) -> None:
    if field.data is not None and not 2000 <= field.data.year <= 2100:
        raise ValidationError(_("Choose a date."))


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").replace(",", "\n").splitlines() if line.strip()]


class ClaimForm(Form):
    """A new claim: the policy and the enterprise's own service records."""

    policy_id = SelectField(_l("Policy"), coerce=int, choices=[], validators=[InputRequired()])
    record_ids = MultiCheckboxField(_l("Service records"), coerce=int, choices=[],
                                    validators=[DataRequired(message=_l("Choose at least one service record."))])


class LinesForm(Form):
    record_ids = MultiCheckboxField(_l("Service records"), coerce=int, choices=[],
                                    validators=[DataRequired(message=_l("Choose at least one service record."))])


class EvidenceForm(Form):
    file = FileField(_l("Payment proof, invoice or contract (PDF or image)"),
                     validators=[FileRequired(message=_l("Choose a file."))])


class SubmitForm(Form):
    contract_nos = TextAreaField(_l("Contract numbers (one per line)"), validators=[Optional(), Length(max=5000)])
    invoice_nos = TextAreaField(_l("Invoice numbers (one per line)"), validators=[Optional(), Length(max=5000)])

    def numbers(self) -> tuple[list[str], list[str]]:
        return _lines(self.contract_nos.data), _lines(self.invoice_nos.data)


class ReasonForm(Form):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(message=_l("Give the reason.")),
                                                     Length(max=1000)])


class PayForm(Form):
    paid_on = DateField(_l("Paid on"), validators=[InputRequired(message=_l("Choose a date.")), sane_date])
    payment_ref = StringField(_l("Payment reference"), validators=[DataRequired(), Length(max=100)])


class PolicyForm(Form):
    """A year's policy, or a new version of it (supersedes_id): amounts in yuan, rates in basis points."""

    supersedes_id = HiddenField()
    year = IntegerField(_l("Year"), validators=[InputRequired(), NumberRange(min=2000, max=2100)])
    valid_from = DateField(_l("Claims accepted from"), validators=[InputRequired(message=_l("Choose a date.")),
                                                                    sane_date])
    valid_to = DateField(_l("Claims accepted until"), validators=[InputRequired(message=_l("Choose a date.")),
                                                                   sane_date])
    budget = YuanField(_l("Budget (yuan)"), validators=[InputRequired()])
    rate_bp = IntegerField(_l("Rate (basis points, 5000 = 50%)"), default=5000,
                           validators=[InputRequired(), NumberRange(min=0, max=10000)])
    defence_rate_bp = IntegerField(_l("Rate for defence units' instruments (basis points; empty: the same)"),
                                   validators=[Optional(), NumberRange(min=0, max=10000)])
    per_claim_cap = YuanField(_l("Cap per claim (yuan; empty: the enterprise cap)"))
    enterprise_annual_cap = YuanField(_l("Cap per enterprise and year (yuan)"), default=300000 * FEN_PER_YUAN)
    group_annual_cap = YuanField(_l("Cap per group and year (yuan; empty: none)"))
    min_claim = YuanField(_l("Minimum claim (yuan)"), default=0)
    eligible_modes = MultiCheckboxField(_l("Eligible service modes"), choices=[], default=list(VOUCHER_MODES),
                                        validators=[DataRequired(message=_l("Choose at least one service mode."))])
    provider_region_prefixes = StringField(_l("Provider region prefixes (comma separated)"), default="3201",
                                           validators=[DataRequired(), Length(max=200)])
    claimant_region_prefixes = StringField(_l("Enterprise region prefixes (comma separated)"), default="3201",
                                           validators=[DataRequired(), Length(max=200)])
    sme_max_staff = IntegerField(_l("SME: at most staff"), default=500,
                                 validators=[InputRequired(), NumberRange(min=0, max=10**9)])
    sme_max_revenue = YuanField(_l("SME: at most annual revenue (yuan)"), default=200000000 * FEN_PER_YUAN)
    sme_max_assets = YuanField(_l("SME: at most total assets (yuan)"), default=200000000 * FEN_PER_YUAN)

    def validate_valid_to(self, field):
        if self.valid_from.data and field.data and field.data < self.valid_from.data:
            raise ValidationError(_("The end must be after the start."))

    def payload(self) -> dict:
        data = {"year": self.year.data, "valid_from": self.valid_from.data, "valid_to": self.valid_to.data,
                "budget_fen": self.budget.data, "rate_bp": self.rate_bp.data,
                "eligible_modes": list(self.eligible_modes.data),
                "provider_region_prefixes": _lines(self.provider_region_prefixes.data),
                "claimant_region_prefixes": _lines(self.claimant_region_prefixes.data),
                "sme_max_staff": self.sme_max_staff.data}
        optional = {"defence_rate_bp": self.defence_rate_bp.data, "per_claim_cap_fen": self.per_claim_cap.data,
                    "enterprise_annual_cap_fen": self.enterprise_annual_cap.data,
                    "group_annual_cap_fen": self.group_annual_cap.data, "min_claim_fen": self.min_claim.data,
                    "sme_max_revenue_fen": self.sme_max_revenue.data, "sme_max_assets_fen": self.sme_max_assets.data}
        data |= {k: v for k, v in optional.items() if v is not None}
        if raw := (self.supersedes_id.data or "").strip():  # text that names no policy is refused as not found
            data["supersedes_id"] = id_from_text(raw) or raw
        return data


# Service-level field names of a refused policy, mapped to the form's.
POLICY_FIELDS = {"budget_fen": "budget", "per_claim_cap_fen": "per_claim_cap",
                 "enterprise_annual_cap_fen": "enterprise_annual_cap", "group_annual_cap_fen": "group_annual_cap",
                 "min_claim_fen": "min_claim", "sme_max_revenue_fen": "sme_max_revenue",
                 "sme_max_assets_fen": "sme_max_assets"}
