"""enrolment breaks: the time a parent was out of a group they re-joined

Re-enrolling used to clear ``enrolments.left_at`` and nothing else, so the sessions held while
the parent was away counted as missed in their rate. The time away is kept now. Existing
enrolments get no breaks: a re-enrolment before this migration left no trace of its gap.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 12:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import orchestrator.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "enrolment_breaks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrolment_id", sa.Integer(), nullable=False),
        sa.Column("left_at", orchestrator.models.UTCDateTime(), nullable=False),
        sa.Column("rejoined_at", orchestrator.models.UTCDateTime(), nullable=False),
        sa.CheckConstraint("left_at <= rejoined_at", name=op.f("ck_enrolment_breaks_ordered")),
        sa.ForeignKeyConstraint(
            ["enrolment_id"],
            ["enrolments.id"],
            name=op.f("fk_enrolment_breaks_enrolment_id_enrolments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrolment_breaks")),
    )
    with op.batch_alter_table("enrolment_breaks") as batch_op:
        batch_op.create_index(batch_op.f("ix_enrolment_breaks_enrolment_id"), ["enrolment_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("enrolment_breaks") as batch_op:
        batch_op.drop_index(batch_op.f("ix_enrolment_breaks_enrolment_id"))
    op.drop_table("enrolment_breaks")
