"""HTML forms of the catalogue pages (shape only: the services check every business rule).

The instrument form is built from fields.FIELDS, so it always covers every field a provider writes; the review form
has one visibility select for every field of fields.RESTRICTABLE.
"""

from datetime import date

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from ..forms import Form, YuanField
from .fields import FIELDS, FIELDS_BY_NAME, RESTRICTABLE, SERVICE_MODE_LABELS, VISIBILITY_LABELS, Visibility
from .resources import KIND_LABELS, ResourceKind

RESTRICTABLE_LABELS = {f.name: f.label for f in FIELDS} | {"owner_id": _l("Owning unit")}


class MultiCheckboxField(SelectMultipleField):
    """Several choices as a list of checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _instrument_field(f):
    required = [DataRequired()] if f.required else [Optional()]
    if f.kind == "fen":
        return YuanField(_l("%(label)s (yuan)", label=f.label), validators=[InputRequired()] if f.required else [])
    if f.kind == "date":
        return DateField(f.label, validators=[Optional()])
    if f.kind == "category":
        return SelectField(f.label, choices=[], validators=[DataRequired()])
    if f.kind == "modes":
        return MultiCheckboxField(f.label, choices=[])
    if f.kind == "longtext":
        return TextAreaField(f.label, validators=[*required, Length(max=f.max_length)])
    return StringField(f.label, validators=[*required, Length(max=f.max_length)])


class _InstrumentFormBase(Form):
    submit = SubmitField(_l("Save"))

    def setup(self, categories, current_code: str | None = None) -> "_InstrumentFormBase":
        """Offer the active classification (classes, then their sub-classes), and the listing's current code."""
        active_tops = {c.code for c in categories if c.parent_code is None and c.is_active}
        choices = [("", "—")]
        for c in categories:
            usable = c.is_active and (c.parent_code is None or c.parent_code in active_tops)
            if usable or c.code == current_code:
                indent = "\u3000" if c.parent_code else ""
                choices.append((c.code, f"{indent}{c.code} {c.name_zh} / {c.name_en}"))
        self.category_code.choices = choices
        self.service_modes.choices = [(m.value, label) for m, label in SERVICE_MODE_LABELS.items()]
        return self

    def values(self) -> dict:
        """What the provider typed, in the types the catalogue services take."""
        out = {}
        for f in FIELDS:
            data = getattr(self, f.name).data
            if f.kind in ("text", "longtext"):
                out[f.name] = (data or "").strip() or None
            elif f.kind == "category":
                out[f.name] = data or None
            elif f.kind == "modes":
                out[f.name] = list(data or [])
            else:
                out[f.name] = data
        return out


InstrumentForm = type("InstrumentForm", (_InstrumentFormBase,), {f.name: _instrument_field(f) for f in FIELDS})


def form_data(values: dict) -> dict:
    """Listing values as instrument_json shows them (ISO dates, mode lists or strings) → form field data."""
    data = {}
    for name, value in values.items():
        f = FIELDS_BY_NAME.get(name)
        if f is None:
            continue
        if f.kind == "date" and isinstance(value, str):
            value = date.fromisoformat(value) if value else None
        elif f.kind == "modes":
            value = [m for m in value.split(",") if m] if isinstance(value, str) else list(value or [])
        data[name] = value
    return data


def normalised(name: str, value):
    """A comparable form of one value, to tell which fields an edit really changes."""
    kind = FIELDS_BY_NAME[name].kind
    if kind == "modes":
        items = value.split(",") if isinstance(value, str) else (value or [])
        return tuple(sorted(m for m in items if m))
    if kind == "date":
        return value.isoformat() if isinstance(value, date) else (value or None)
    if isinstance(value, str):
        return value.strip() or None
    return value


class ReasonRequiredForm(Form):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=1000)])


class SuspendForm(Form):
    reason = TextAreaField(_l("Reason for suspending"), validators=[Optional(), Length(max=1000)])


class _ReviewFormBase(Form):
    result = RadioField(_l("Result"), choices=[], validators=[DataRequired()])
    comment = TextAreaField(_l("Comment (required when the review fails)"), validators=[Length(max=2000)])
    submit = SubmitField(_l("Record the review"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.result.choices = [("passed", _l("Passed")), ("failed", _l("Failed: return to the drafter"))]
        for name in RESTRICTABLE:
            self.visibility_field(name).choices = [(v.value, VISIBILITY_LABELS[v]) for v in Visibility]

    def visibility_field(self, name: str) -> SelectField:
        return getattr(self, f"field_visibility_{name}")

    def field_visibility(self) -> dict[str, str]:
        return {name: self.visibility_field(name).data for name in RESTRICTABLE}


ReviewForm = type("ReviewForm", (_ReviewFormBase,), {
    f"field_visibility_{name}": SelectField(RESTRICTABLE_LABELS[name], choices=[], default=Visibility.hidden.value)
    for name in RESTRICTABLE})


class ApproveForm(Form):
    approval_no = StringField(_l("Approval document number"), validators=[DataRequired(), Length(max=100)])
    valid_until = DateField(_l("Valid until"), validators=[Optional()])
    submit = SubmitField(_l("Approve"))


class ClearanceForm(Form):
    organization_uscc = StringField(_l("Organisation's unified social credit code"),
                                    validators=[DataRequired(), Length(max=18)])
    agreement_version = StringField(_l("Confidentiality agreement version"),
                                    validators=[DataRequired(), Length(max=60)])
    submit = SubmitField(_l("Clear this organisation"))


class ResourceForm(Form):
    kind = SelectField(_l("Kind"), choices=[], validators=[DataRequired()])
    name_zh = StringField(_l("Name (Chinese)"), validators=[DataRequired(), Length(max=200)])
    name_en = StringField(_l("Name (English)"), validators=[Optional(), Length(max=200)])
    level = SelectField(_l("Level"), choices=[], default="")
    fields_of_work = TextAreaField(_l("Fields of work"), validators=[Optional(), Length(max=5000)])
    services = TextAreaField(_l("Services offered"), validators=[Optional(), Length(max=5000)])
    contact = StringField(_l("Contact"), validators=[Optional(), Length(max=200)])
    website = StringField(_l("Website"), validators=[Optional(), Length(max=300)])
    is_published = BooleanField(_l("Shown in the public directory"), default=True)
    organization_uscc = StringField(_l("Unit's unified social credit code"), validators=[Optional(), Length(max=18)])
    instrument_ids = MultiCheckboxField(_l("Linked instruments of the unit"), choices=[])
    submit = SubmitField(_l("Save"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = [(k.value, KIND_LABELS[k]) for k in ResourceKind]
        self.level.choices = [("", "—"), ("national", _l("National")), ("provincial", _l("Provincial")),
                              ("municipal", _l("Municipal"))]

    def values(self) -> dict:
        values = {name: getattr(self, name).data for name in ("kind", "name_zh", "name_en", "level",
                                                              "fields_of_work", "services", "contact", "website")}
        values["is_published"] = bool(self.is_published.data)
        values["instrument_ids"] = [int(i) for i in self.instrument_ids.data or []]
        return values


class CategoryNameForm(Form):
    name_zh = StringField(_l("Name (Chinese)"), validators=[DataRequired(), Length(max=100)])
    name_en = StringField(_l("Name (English)"), validators=[DataRequired(), Length(max=100)])
    submit = SubmitField(_l("Save"))


class CategoryAddForm(Form):
    parent_code = SelectField(_l("Class"), choices=[], validators=[DataRequired()])
    code = StringField(_l("Code (4 digits, starting with the class code)"),
                       validators=[DataRequired(), Regexp(r"^\d{4}$", message=_l("4 digits"))])
    name_zh = StringField(_l("Name (Chinese)"), validators=[DataRequired(), Length(max=100)])
    name_en = StringField(_l("Name (English)"), validators=[DataRequired(), Length(max=100)])
    submit = SubmitField(_l("Add sub-class"))
