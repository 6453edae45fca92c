"""Which submissions changed since the last compute: exactly, never by time.

Every insert and update of a submission stamps `change_seq` (`sync.tables.ChangeStamp`). On PostgreSQL the
stamp is the writing transaction's id, and a compute reads its snapshot (`pg_current_snapshot`) before anything
else: a write it has seen is one whose transaction had committed by then (an id below the snapshot's `xmax` and
not among its in-progress ids), or its own. The next compute reads what the previous one had not seen: ids from
`xmax` on, and the ids that were still in progress. A sync page that commits while a compute runs, or a long
transaction that started before it and commits after, is read by the next compute, once. On SQLite writers are
serial, so the stamp is one more than the highest and "seen" is "at most the highest stamp when the run began"
(submission rows are never deleted, but by `sera demo clear`, which runs a full compute after).

A wall-clock watermark cannot do this: a transaction stamps its time before it commits, so a reader must go
back over an overlap (and read everything in it again) and still misses a transaction longer than the overlap.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, or_, select, text, true
from sqlmodel import Session, col

from sync.tables import Submission

stamp = col(Submission.change_seq)
"""The change stamp column (`sync.tables.ChangeStamp`)."""


@dataclass(frozen=True)
class Mark:
    """The submission writes a compute has seen: stamps below `upto`, but those `running`, plus `own`."""

    upto: int
    running: tuple[int, ...] = ()
    own: int | None = None

    def text(self) -> str:
        return f"{self.upto}:{','.join(str(r) for r in self.running)}:{'' if self.own is None else self.own}"

    @classmethod
    def parse(cls, value: str | None) -> "Mark | None":
        if not value:
            return None
        upto, running, own = value.split(":")
        return cls(int(upto), tuple(int(r) for r in running.split(",") if r), int(own) if own else None)

    def seen(self) -> ColumnElement[bool]:
        """Submissions whose last write this mark has seen."""
        clause = stamp < self.upto
        if self.running:
            clause = and_(clause, stamp.not_in(self.running))
        return or_(clause, stamp == self.own) if self.own is not None else clause

    def unseen(self) -> list[ColumnElement[bool]]:
        """Submissions written after this mark, as separate clauses (each one an index range or an IN list):
        the writes of transactions still running when it was taken, and every later one."""
        later = stamp >= self.upto
        if self.own is not None:
            later = and_(later, stamp != self.own)
        return ([stamp.in_(self.running)] if self.running else []) + [later]


def current_mark(session: Session) -> Mark:
    """What this transaction sees of the submission writes, now: take it before reading any submission."""
    if session.get_bind().dialect.name == "postgresql":
        row = session.execute(text("SELECT pg_current_snapshot()::text, pg_current_xact_id_if_assigned()::text"))
        snapshot, own = row.one()
        _xmin, xmax, running = str(snapshot).split(":")
        return Mark(int(xmax), tuple(int(r) for r in running.split(",") if r), int(own) if own else None)
    highest = session.execute(select(func.coalesce(func.max(stamp), 0))).scalar_one()
    return Mark(int(highest) + 1)


def changed_since(before: Mark | None, now: Mark) -> Sequence[ColumnElement[bool]]:
    """One clause per range of stamps to read: written after `before` (everything without it), seen by `now`."""
    if before is None:
        return [now.seen()]
    return [and_(unseen, now.seen()) for unseen in before.unseen()]


def pending_changes(session: Session, mark_text: str | None) -> bool:
    """Whether any submission was written since the compute that took this mark (any at all without one)."""
    mark = Mark.parse(mark_text)
    clauses = [true()] if mark is None else mark.unseen()
    return any(session.execute(select(Submission.id).where(clause).limit(1)).first() is not None for clause in clauses)
