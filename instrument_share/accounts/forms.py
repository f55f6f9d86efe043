"""HTML forms (shape only: business rules are checked by the services).

Fixed choices are set in __init__: WTForms 3.3 deprecates (value, label) tuples given to a field's constructor.
"""

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, EqualTo, Length, NumberRange, Optional, Regexp

from ..forms import Form, YuanField
from .roles import KIND_LABELS, RELATION_LABELS, ROLE_LABELS, OrgKind, RelationKind, Role


class LoginForm(Form):
    username = StringField(_l("User name"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    submit = SubmitField(_l("Sign in"))


class TotpForm(Form):
    code = StringField(_l("6-digit code"), validators=[DataRequired(), Regexp(r"^\s*\d{3}\s?\d{3}\s*$",
                                                                              message=_l("6 digits"))])
    submit = SubmitField(_l("Confirm"))


class RegisterForm(Form):
    name = StringField(_l("Enterprise name"), validators=[DataRequired(), Length(max=200)])
    uscc = StringField(_l("Unified social credit code"), validators=[DataRequired()])
    staff_count = IntegerField(_l("Staff"), validators=[Optional(), NumberRange(min=0)])
    annual_revenue_yuan = YuanField(_l("Annual revenue (yuan)"), validators=[Optional()])
    total_assets_yuan = YuanField(_l("Total assets (yuan)"), validators=[Optional()])
    tech_sme_no = StringField(_l("Tech-SME registration number"), validators=[Optional(), Length(max=64)])
    username = StringField(_l("User name"), validators=[DataRequired(), Length(min=3, max=64)])
    email = EmailField(_l("Email"), validators=[DataRequired(), Email()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    confirm = PasswordField(_l("Repeat password"), validators=[EqualTo("password", message=_l("does not match"))])
    submit = SubmitField(_l("Register"))


class EmailForm(Form):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email()])
    submit = SubmitField(_l("Send link"))


class NewPasswordForm(Form):
    password = PasswordField(_l("New password"), validators=[DataRequired()])
    confirm = PasswordField(_l("Repeat password"), validators=[EqualTo("password", message=_l("does not match"))])
    submit = SubmitField(_l("Set password"))


class AcceptInvitationForm(Form):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(min=3, max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    confirm = PasswordField(_l("Repeat password"), validators=[EqualTo("password", message=_l("does not match"))])
    submit = SubmitField(_l("Create my account"))


class ChangePasswordForm(Form):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(_l("New password"), validators=[DataRequired()])
    confirm = PasswordField(_l("Repeat new password"),
                            validators=[EqualTo("new_password", message=_l("does not match"))])
    submit = SubmitField(_l("Change password"))


class PasswordConfirmForm(Form):
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    submit = SubmitField(_l("Turn off two-factor login"))


class TokenForm(Form):
    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=100)])
    submit = SubmitField(_l("Create token"))


class PlainForm(Form):
    """A form with only the CSRF token, for buttons that change state."""


class ReasonForm(Form):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=1000)])


class InviteForm(Form):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email()])
    role = SelectField(_l("Role"), choices=[])
    submit = SubmitField(_l("Send invitation"))


class GrantRoleForm(Form):
    roles = SelectMultipleField(_l("Roles"))
    submit = SubmitField(_l("Grant"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.roles.choices = [(r.value, ROLE_LABELS[r]) for r in Role]


class OrgProfileForm(Form):
    contact_name = StringField(_l("Contact person"), validators=[Optional(), Length(max=100)])
    contact_phone = StringField(_l("Contact phone"), validators=[Optional(), Length(max=40)])
    contact_email = StringField(_l("Contact email"), validators=[Optional(), Email(), Length(max=254)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=300)])
    actual_controller = StringField(_l("Actual controller"), validators=[Optional(), Length(max=200)])
    staff_count = IntegerField(_l("Staff"), validators=[Optional(), NumberRange(min=0)])
    annual_revenue_yuan = YuanField(_l("Annual revenue (yuan)"), validators=[Optional()])
    total_assets_yuan = YuanField(_l("Total assets (yuan)"), validators=[Optional()])
    tech_sme_no = StringField(_l("Tech-SME registration number"), validators=[Optional(), Length(max=64)])
    submit = SubmitField(_l("Save"))


class OrgCreateForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    uscc = StringField(_l("Unified social credit code"), validators=[DataRequired()])
    kind = SelectField(_l("Kind"))
    region_code = StringField(_l("Region code (6 digits; empty: from the code)"), validators=[Optional()])
    superior_id = SelectField(_l("Superior authority (defence units)"), choices=[], validate_choice=False)
    actual_controller = StringField(_l("Actual controller"), validators=[Optional(), Length(max=200)])
    verified = BooleanField(_l("Verify at once"))
    submit = SubmitField(_l("Create"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = [(k.value, KIND_LABELS[k]) for k in OrgKind]


class RelationForm(Form):
    other_uscc = StringField(_l("Other organisation's USCC"), validators=[DataRequired()])
    kind = SelectField(_l("Relation"))
    submit = SubmitField(_l("Add relation"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = [(k.value, RELATION_LABELS[k]) for k in RelationKind]


class UserCreateForm(Form):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(min=3, max=64)])
    email = EmailField(_l("Email"), validators=[DataRequired(), Email()])
    organization_uscc = StringField(_l("Organisation USCC"), validators=[DataRequired()])
    password = PasswordField(_l("Initial password"), validators=[DataRequired()])
    submit = SubmitField(_l("Create account"))
