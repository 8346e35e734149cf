"""What a person opening a session's link gets, decided from the session, the clock and settings.

The join endpoint and the facilitator's start button both ask the same question: given the
session's status and times and *now*, what happens? Keeping the answer a pure function makes the
rules (join window, grace after the end, moved and cancelled sessions) testable without a
database or a web server, and the same for every caller.

Times: parents may open the room ``join_window`` before the start. Tokens are valid from that
moment minus a small clock skew (prosody applies no leeway, and phones' clocks drift) until the
scheduled end plus ``token_grace``, because a reconnect re-uses the token and a group often runs
over. After that instant no valid token can be minted, so the session is *expired* even when the
facilitator forgot to end it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from zoneinfo import ZoneInfo

from orchestrator.settings import SessionSettings

__all__ = [
    "CLOCK_SKEW",
    "JoinState",
    "LaunchState",
    "SessionFacts",
    "Timing",
    "decide_join",
    "decide_launch",
    "is_moved",
]

# Subtracted from a token's nbf: a device or server clock a little ahead must not be refused.
CLOCK_SKEW = dt.timedelta(seconds=60)


class JoinState(enum.StrEnum):
    """What a parent's join link leads to."""

    NOT_ENROLLED = "not_enrolled"  # not (or no longer) in the session's group
    CANCELLED = "cancelled"
    ENDED = "ended"  # the facilitator ended it
    EXPIRED = "expired"  # its time is over (never started, or past the token grace)
    MOVED = "moved"  # before the join window of a session that has a new time
    TOO_EARLY = "too_early"  # before the join window
    WAITING = "waiting"  # inside the window, not yet started by the facilitator
    LIVE = "live"  # started: mint a token and go into the room


class LaunchState(enum.StrEnum):
    """What the facilitator's Start button does."""

    START = "start"  # scheduled and inside the window: becomes live
    REENTER = "reenter"  # live already: enter again
    TOO_EARLY = "too_early"
    CANCELLED = "cancelled"
    ENDED = "ended"
    EXPIRED = "expired"


@dataclasses.dataclass(frozen=True)
class Timing:
    """The join window and token validity, from ``[sessions]`` in the settings."""

    join_window: dt.timedelta
    token_grace: dt.timedelta
    clock_skew: dt.timedelta = CLOCK_SKEW

    @classmethod
    def from_settings(cls, sessions: SessionSettings) -> Timing:
        return cls(
            join_window=dt.timedelta(minutes=sessions.join_window_minutes),
            token_grace=dt.timedelta(minutes=sessions.token_grace_minutes),
        )

    def opens_at(self, starts_at: dt.datetime) -> dt.datetime:
        """From this instant the room may be entered."""
        return starts_at - self.join_window

    def token_not_before(self, starts_at: dt.datetime) -> dt.datetime:
        return self.opens_at(starts_at) - self.clock_skew

    def token_expires(self, ends_at: dt.datetime) -> dt.datetime:
        return ends_at + self.token_grace


@dataclasses.dataclass(frozen=True)
class SessionFacts:
    """The parts of a session the decisions depend on."""

    status: str  # scheduled | live | ended | cancelled
    starts_at: dt.datetime
    ends_at: dt.datetime
    moved: bool = False


def is_moved(recurrence_local: dt.datetime | None, starts_at: dt.datetime, zone: str) -> bool:
    """True when a series occurrence no longer starts at the local time it was generated for.

    ``recurrence_local`` is the naive local start the occurrence was created with (its
    RECURRENCE-ID) and never changes; one-off sessions have none and are never "moved".
    """
    if recurrence_local is None:
        return False
    local = starts_at.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    return local != recurrence_local


def decide_join(facts: SessionFacts, *, enrolled: bool, now: dt.datetime, timing: Timing) -> JoinState:
    """The state a parent's join link is in at ``now``; see ``JoinState``."""
    if not enrolled:
        return JoinState.NOT_ENROLLED
    if facts.status == "cancelled":
        return JoinState.CANCELLED
    if facts.status == "ended":
        return JoinState.ENDED
    if now >= timing.token_expires(facts.ends_at):
        return JoinState.EXPIRED
    if now < timing.opens_at(facts.starts_at):
        # Checked before "live" too: a token minted now would not be valid yet.
        return JoinState.MOVED if facts.moved else JoinState.TOO_EARLY
    if facts.status == "live":
        return JoinState.LIVE
    if now >= facts.ends_at:
        # Never started and its time is over: waiting would be waiting for nothing.
        return JoinState.EXPIRED
    return JoinState.WAITING


def decide_launch(facts: SessionFacts, *, now: dt.datetime, timing: Timing) -> LaunchState:
    """What starting the session at ``now`` does; see ``LaunchState``."""
    if facts.status == "cancelled":
        return LaunchState.CANCELLED
    if facts.status == "ended":
        return LaunchState.ENDED
    if now >= timing.token_expires(facts.ends_at):
        return LaunchState.EXPIRED
    if now < timing.opens_at(facts.starts_at):
        # The room token would not be valid yet (nbf), and parents could not follow.
        return LaunchState.TOO_EARLY
    if facts.status == "live":
        return LaunchState.REENTER
    if now >= facts.ends_at:
        return LaunchState.EXPIRED
    return LaunchState.START
