"""Request bodies of the voucher claim actions after submission."""

from pydantic import Field, StrictStr

from .schemas import Strict


class ReasonIn(Strict):
    reason: StrictStr = Field(min_length=1, max_length=1000)


class PayIn(Strict):
    paid_on: StrictStr = Field(description="YYYY-MM-DD (Asia/Shanghai)")
    payment_ref: StrictStr = Field(min_length=1, max_length=100)
