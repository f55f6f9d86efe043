"""Service contracts (国科发基〔2017〕289号 art. 13): the unit's template, copied and numbered at confirmation."""

import json

from flask_babel import gettext as _
from sqlalchemy import select

from ..audit import chain as audit
from ..catalogue import access
from ..core.clock import local_today, now_utc
from ..core.errors import PermissionDenied, ValidationFailed
from ..db import db
from .models import Booking, ContractTemplate, ServiceContract

TERM_FIELDS = ("service_terms", "ip_terms", "confidentiality_terms", "damages_terms", "dispute_terms")
DEFAULT_TERMS = {
    "service_terms": "甲方（服务提供单位）按照预约确认的时间、服务方式和公开的收费标准向乙方（用户单位）"
                     "提供仪器使用或检测服务，乙方按约定时间到场或送样，并按实际服务量支付费用。",
    "ip_terms": "乙方利用本次服务取得的原始数据和研究成果归乙方所有；甲方对乙方的身份信息、样品信息及服务过程中知悉的"
                "技术秘密负有保护义务，未经乙方同意不得使用或披露。",
    "confidentiality_terms": "双方对在服务过程中知悉的对方商业秘密和技术秘密负有保密义务。涉及国防科研仪器的，"
                             "乙方须遵守其签署的保密协议，不得记录、拍摄或泄露任何涉密信息。",
    "damages_terms": "因一方过错造成仪器损坏、样品损毁或数据丢失的，由过错方依法承担赔偿责任；"
                     "因不可抗力造成的损失，双方互不承担责任。",
    "dispute_terms": "因本合同发生的争议，双方应协商解决；协商不成的，提交南京仲裁委员会仲裁，"
                     "或向甲方所在地人民法院提起诉讼。",
}


def template_for(unit_id: int) -> dict[str, str]:
    stored = db.session.get(ContractTemplate, unit_id)
    return {k: getattr(stored, k) for k in TERM_FIELDS} if stored else dict(DEFAULT_TERMS)


def set_template(*, actor, unit_id: int, terms: dict) -> ContractTemplate:
    if not access.is_operator_of(actor, unit_id):
        raise PermissionDenied(_("Only the unit's instrument operators maintain its contract template."))
    errors = {k: _("required, at most 5000 characters") for k in TERM_FIELDS
              if not isinstance(terms.get(k), str) or not terms[k].strip() or len(terms[k]) > 5000}
    if errors:
        raise ValidationFailed(_("Every clause of the contract is required."), fields=errors)
    stored = db.session.get(ContractTemplate, unit_id) or ContractTemplate(unit_id=unit_id)
    for key in TERM_FIELDS:
        setattr(stored, key, terms[key].strip())
    stored.updated_by_id, stored.updated_at = actor.id, now_utc()
    db.session.add(stored)
    db.session.flush()
    audit.append("contract_template.updated", actor=actor, organization_id=unit_id, object_type="organization",
                 object_id=unit_id)
    return stored


def contract_number(booking: Booking) -> str:
    return f"NJYQ-{local_today().year}-{booking.id:07d}"


def open_contract(booking: Booking, user) -> ServiceContract:
    """Copy the unit's terms when the user requests: the request is the user's acceptance (shown before it)."""
    terms = template_for(booking.unit_id) | {
        "unit_id": booking.unit_id, "organization_id": booking.organization_id, "instrument_id": booking.instrument_id,
        "mode": booking.mode, "quote_fen": booking.quote_fen, "quote_basis": booking.quote_basis}
    contract = ServiceContract(booking_id=booking.id, terms=json.dumps(terms, ensure_ascii=False, sort_keys=True),
                               user_accepted_at=now_utc(), user_accepted_by_id=user.id)
    db.session.add(contract)
    db.session.flush()
    return contract


def confirm_contract(booking: Booking, *, provider) -> ServiceContract:
    """Number the contract and record the provider's acceptance (None: confirmed automatically by the rules)."""
    contract = db.session.scalar(select(ServiceContract).where(ServiceContract.booking_id == booking.id))
    booking.contract_no = contract.contract_no = contract_number(booking)
    contract.provider_accepted_at, contract.provider_accepted_by_id = now_utc(), getattr(provider, "id", None)
    db.session.flush()
    return contract


def contract_of(booking: Booking) -> ServiceContract | None:
    return db.session.scalar(select(ServiceContract).where(ServiceContract.booking_id == booking.id))
