"""Times away from a group (``EnrolmentBreak``), read the one way every consumer needs them.

Processing (no rows for sessions of a time away), calendar feeds (those sessions left out),
reports (not counted as missed) and the privacy export all ask the same question: for these
enrolments, when was each parent away?
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session as DbSession

from orchestrator.models import Enrolment, EnrolmentBreak

__all__ = ["breaks_by_enrolment"]


def breaks_by_enrolment(
    db: DbSession, where: ColumnElement[bool]
) -> dict[int, list[tuple[dt.datetime, dt.datetime]]]:
    """(left at, re-joined at) per enrolment id, in time order, for the enrolments ``where``
    selects (a condition on ``Enrolment``); enrolments without breaks are absent."""
    found: defaultdict[int, list[tuple[dt.datetime, dt.datetime]]] = defaultdict(list)
    for enrolment_id, left_at, rejoined_at in db.execute(
        select(EnrolmentBreak.enrolment_id, EnrolmentBreak.left_at, EnrolmentBreak.rejoined_at)
        .join(Enrolment, Enrolment.id == EnrolmentBreak.enrolment_id)
        .where(where)
        .order_by(EnrolmentBreak.left_at, EnrolmentBreak.id)
    ):
        found[enrolment_id].append((left_at, rejoined_at))
    return dict(found)
