from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime


class JobRun(Base):
    """A job's claim on one period; a claim whose lease expired unfinished is taken over."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job_name", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_name: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(32))
    claimed_by: Mapped[str] = mapped_column(String(128))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    takeovers: Mapped[int] = mapped_column(default=0)
    result: Mapped[str | None] = mapped_column(String(2000))
