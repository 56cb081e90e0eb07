"""What the door shows and says for each decision: the patterns and the prompt table.

Three kinds a member can tell apart without reading anything:

- **granted**: green, one short beep (and "欢迎光临");
- **denied**: red, two short beeps (and why, when the member can do something about it);
- **closed**: red blinking, one long beep ("本站点现在关闭"): the code was fine, the hours not.

Patterns are steps in fractions of `show_s` (default 1.5 s, the lock's pulse), so one number
stretches or shortens all of them. Pure data and rules; no pins, no threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from edge.access.decide import Verdict
from edge.ports import FeedbackKind
from protocol.credential import Reason


@dataclass(frozen=True, slots=True)
class Step:
    """One stretch of a pattern: which outputs are on, for `share` of `show_s`."""

    green: bool
    red: bool
    buzz: bool
    share: float


PATTERNS: MappingProxyType[FeedbackKind, tuple[Step, ...]] = MappingProxyType(
    {
        "granted": (Step(True, False, True, 0.1), Step(True, False, False, 0.9)),
        "denied": (
            Step(False, True, True, 0.08),
            Step(False, True, False, 0.06),
            Step(False, True, True, 0.08),
            Step(False, True, False, 0.78),
        ),
        "closed": (
            Step(False, True, True, 0.3),
            Step(False, False, False, 0.2),
            Step(False, True, False, 0.3),
            Step(False, False, False, 0.2),
        ),
    }
)


@dataclass(frozen=True, slots=True)
class Prompt:
    """One spoken prompt: its file's stem in `audio_dir` and what it says."""

    name: str
    text: str


WELCOME = Prompt("welcome", "欢迎光临")
REFRESH = Prompt("refresh", "二维码已过期，请刷新")
CLOSED = Prompt("closed", "本站点现在关闭")
RETRY = Prompt("retry", "无法识别，请重试")
NOT_AUTHORISED = Prompt("not_authorised", "未获授权")
PROMPTS = (WELCOME, REFRESH, CLOSED, RETRY, NOT_AUTHORISED)

# A denial's reason → what the member hears. Only what the member can act on gets its own
# words: a stale code (or a replayed one: the same code shown again) is fixed by letting the
# phone draw a fresh one, garbage by showing the right code; the rest (unknown issuer, bad
# signature, expired or revoked card, missing privilege) is one generic refusal, which also
# tells a forger nothing.
DENIAL_PROMPTS: MappingProxyType[Reason, Prompt] = MappingProxyType(
    {
        Reason.STALE_PRESENTATION: REFRESH,
        Reason.REPLAYED: REFRESH,
        Reason.MALFORMED: RETRY,
    }
)


def feedback_kind(verdict: Verdict) -> FeedbackKind:
    """granted, closed (denied only because of the door's hours) or denied."""
    if verdict.decision.granted:
        return "granted"
    return "closed" if verdict.closed else "denied"


def prompt_for(kind: FeedbackKind, reason: Reason) -> Prompt:
    """The prompt for a decision of `kind` with `reason` (the one table above)."""
    if kind == "granted":
        return WELCOME
    if kind == "closed":
        return CLOSED
    return DENIAL_PROMPTS.get(reason, NOT_AUTHORISED)
