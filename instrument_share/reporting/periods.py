"""Calendar periods of the statistics: a year or a quarter of Asia/Shanghai calendar days."""

from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import gettext as _

from ..core.errors import ValidationFailed

MIN_YEAR, MAX_YEAR = 2000, 2100  # the platform's plausible range; anything else is a typing error


@dataclass(frozen=True)
class Period:
    """[start, end) in local calendar days; both None means all time."""

    year: int | None = None
    quarter: int | None = None
    start: date | None = None
    end: date | None = None

    @property
    def label(self) -> str:
        if self.start is None:
            return _("All time")
        if self.year is None:
            return f"{self.start.isoformat()} – {(self.end - timedelta(days=1)).isoformat()}"
        return f"{self.year}Q{self.quarter}" if self.quarter else str(self.year)

    def months(self) -> list[tuple[int, int]]:
        """(year, month) of each month in the period, in order."""
        if self.start is None:
            return []
        out, year, month = [], self.start.year, self.start.month
        while date(year, month, 1) < self.end:
            out.append((year, month))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out


ALL_TIME = Period()


def quarter_start(year: int, quarter: int) -> date:
    return date(year, 3 * (quarter - 1) + 1, 1)


def period(year: int | None = None, quarter: int | None = None) -> Period:
    """The period of a year or one of its quarters; refuses a quarter without a year and values out of range."""
    problems = {}
    if year is not None and not MIN_YEAR <= year <= MAX_YEAR:
        problems["year"] = _("a year from %(a)d to %(b)d", a=MIN_YEAR, b=MAX_YEAR)
    if quarter is not None and not 1 <= quarter <= 4:
        problems["quarter"] = _("1, 2, 3 or 4")
    elif quarter is not None and year is None:
        problems["year"] = _("required with quarter")
    if problems:
        raise ValidationFailed(_("Some values are invalid: %(f)s.", f=", ".join(sorted(problems))), fields=problems)
    if year is None:
        return ALL_TIME
    if quarter is None:
        return Period(year, None, date(year, 1, 1), date(year + 1, 1, 1))
    end = quarter_start(year + 1, 1) if quarter == 4 else quarter_start(year, quarter + 1)
    return Period(year, quarter, quarter_start(year, quarter), end)


def quarter_of(day: date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def previous_quarter(day: date) -> tuple[int, int]:
    year, quarter = quarter_of(day)
    return (year - 1, 4) if quarter == 1 else (year, quarter - 1)


def months_back(today: date, count: int) -> Period:
    """The `count` whole calendar months ending with the current one (dashboards' trend window)."""
    year, month = today.year, today.month - (count - 1)
    while month < 1:
        year, month = year - 1, month + 12
    end_year, end_month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return Period(None, None, date(year, month, 1), date(end_year, end_month, 1))
