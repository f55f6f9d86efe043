"""The instrument fields: labels, national column headers for import, and which fields a reviewer may restrict."""

from dataclasses import dataclass
from enum import StrEnum

from flask_babel import lazy_gettext as _l


class ServiceMode(StrEnum):
    machine_time = "machine_time"
    sample_testing = "sample_testing"
    experiment = "experiment"
    statutory_testing = "statutory_testing"


class Status(StrEnum):
    draft = "draft"
    in_review = "in_review"
    published = "published"
    suspended = "suspended"
    revoked = "revoked"
    retired = "retired"


class Visibility(StrEnum):
    """Cumulative levels: public ⊂ registered ⊂ cleared ⊂ hidden (the owning unit and its approvers)."""

    public = "public"
    registered = "registered"
    cleared = "cleared"
    hidden = "hidden"


LEVEL_ORDER = {Visibility.public: 0, Visibility.registered: 1, Visibility.cleared: 2, Visibility.hidden: 3}

SERVICE_MODE_LABELS = {
    ServiceMode.machine_time: _l("Machine time on site"),
    ServiceMode.sample_testing: _l("Sample testing"),
    ServiceMode.experiment: _l("Experiment / verification"),
    ServiceMode.statutory_testing: _l("Statutory testing"),
}

STATUS_LABELS = {
    Status.draft: _l("Draft"), Status.in_review: _l("In review"), Status.published: _l("Published"),
    Status.suspended: _l("Suspended"), Status.revoked: _l("Revoked"), Status.retired: _l("Retired"),
}

VISIBILITY_LABELS = {
    Visibility.public: _l("Public"), Visibility.registered: _l("Registered users"),
    Visibility.cleared: _l("Cleared users"), Visibility.hidden: _l("Hidden"),
}


@dataclass(frozen=True)
class Field:
    name: str
    label: object
    header: str  # the national catalogue's column name, used by bulk import
    kind: str = "text"  # text | longtext | date | fen | category | modes
    required: bool = False
    max_length: int = 200


# Every field a provider writes; each can be given a visibility by the confidentiality reviewer.
FIELDS: tuple[Field, ...] = (
    Field("name_zh", _l("Name (Chinese)"), "仪器名称", required=True),
    Field("name_en", _l("Name (English)"), "英文名称"),
    Field("model", _l("Model"), "规格型号", max_length=100),
    Field("manufacturer", _l("Manufacturer"), "生产厂家"),
    Field("country", _l("Country of origin"), "产地国别", max_length=60),
    Field("serial_no", _l("Serial number"), "出厂编号", max_length=100),
    Field("purchase_date", _l("Purchase date"), "购置日期", kind="date"),
    Field("original_value_fen", _l("Original value"), "原值（元）", kind="fen", required=True),
    Field("category_code", _l("Category"), "仪器分类代码", kind="category", required=True),
    Field("location", _l("Location"), "安放地址"),
    Field("district", _l("District"), "所在区县", max_length=60),
    Field("technical_indicators", _l("Technical indicators"), "主要技术指标", kind="longtext", max_length=5000),
    Field("main_functions", _l("Main functions"), "主要功能", kind="longtext", max_length=5000),
    Field("service_content", _l("Service content"), "服务内容", kind="longtext", max_length=5000),
    Field("service_modes", _l("Service modes"), "服务方式", kind="modes"),
    Field("fee_per_hour_fen", _l("Fee per hour"), "机时收费标准（元/小时）", kind="fen"),
    Field("fee_per_sample_fen", _l("Fee per sample"), "测试收费标准（元/样）", kind="fen"),
    Field("fee_notes", _l("Fee notes"), "收费说明", kind="longtext", max_length=2000),
    Field("contact", _l("Contact"), "联系方式"),
)
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
# What a confidentiality reviewer gives a visibility: every written field, and which unit owns the instrument.
RESTRICTABLE: tuple[str, ...] = (*FIELD_NAMES, "owner_id")
FIELDS_BY_NAME = {f.name: f for f in FIELDS}
# Always present on a listing the viewer may see at all (docs/api.md "Defence listing visibility").
ALWAYS_VISIBLE = ("id", "status", "is_defence")
# Searched as full text (names, model, manufacturer, functions and indicators).
SEARCHED_FIELDS = ("name_zh", "name_en", "model", "manufacturer", "main_functions", "technical_indicators",
                   "service_content")
