"""A booking's states and the moves between them; pure (no Flask, no database).

The stored values are the member values (the `bookings.status` column is a plain string, so no migration): a
`BookingStatus` compares equal to its string, in Python and as an SQL parameter.
"""

from dataclasses import dataclass
from enum import StrEnum


class BookingStatus(StrEnum):
    pending = "pending"  # requested, waiting for the unit's confirmation
    confirmed = "confirmed"
    rejected = "rejected"
    cancelled = "cancelled"
    in_progress = "in_progress"  # the user arrived (or a no-show was corrected); the session is under way
    no_show = "no_show"
    completed = "completed"  # the service is recorded (ledger.service_records)


# Bookings in these states hold their interval (a session under way keeps the rest of its time; migration
# 3f6a0c2d9e14 makes the database's overlap guard agree, so this set must not change without a migration).
HOLDING = (BookingStatus.pending, BookingStatus.confirmed, BookingStatus.in_progress)


@dataclass(frozen=True)
class Transition:
    """A move a booking may make: from any of `sources` to `target`."""

    name: str
    sources: frozenset[BookingStatus]
    target: BookingStatus

    def allowed_from(self, status: str) -> bool:
        return status in self.sources


def _move(name: str, sources: tuple[BookingStatus, ...], target: BookingStatus) -> Transition:
    return Transition(name, frozenset(sources), target)


CANCELLABLE = (BookingStatus.pending, BookingStatus.confirmed)

CONFIRM = _move("confirm", (BookingStatus.pending,), BookingStatus.confirmed)
REJECT = _move("reject", (BookingStatus.pending,), BookingStatus.rejected)
CANCEL = _move("cancel", CANCELLABLE, BookingStatus.cancelled)
START = _move("start", (BookingStatus.confirmed,), BookingStatus.in_progress)
MARK_NO_SHOW = _move("mark_no_show", (BookingStatus.confirmed,), BookingStatus.no_show)
CORRECT_NO_SHOW = _move("correct_no_show", (BookingStatus.no_show,), BookingStatus.in_progress)
# A session under way, or a confirmed sample order (which has no arrival), is completed by its service record.
COMPLETE = _move("complete", (BookingStatus.in_progress, BookingStatus.confirmed), BookingStatus.completed)

TRANSITIONS = (CONFIRM, REJECT, CANCEL, START, MARK_NO_SHOW, CORRECT_NO_SHOW, COMPLETE)
