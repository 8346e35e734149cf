"""centre setting: when leaving counts as leaving early

Until now "left early" used the late tolerance (``late_after_minutes``) at the end of a session
too. Centres set it on its own now; existing centres keep what they had.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 09:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("centres") as batch_op:
        batch_op.add_column(sa.Column("early_leave_minutes", sa.Integer(), nullable=False, server_default="10"))
    # Each centre keeps the tolerance it had at the end of a session: its late tolerance.
    op.execute("UPDATE centres SET early_leave_minutes = late_after_minutes")
    with op.batch_alter_table("centres") as batch_op:
        batch_op.alter_column("early_leave_minutes", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("centres") as batch_op:
        batch_op.drop_column("early_leave_minutes")
