"""Skill-weighted consensus as Space Warps computes it (SWAP: Marshall et al. 2016, MNRAS 455, 1171).

Each grader is an agent with two skills measured on the blind calibration items: ``p_lens`` = P(says lens | lens)
and ``p_non`` = P(says not a lens | not a lens). A grade of A or B says "lens", N says "not". Each object's
probability of being a lens starts at a prior and is updated by Bayes' rule grade by grade:

    says lens:  p <- p p_lens / (p p_lens + (1 - p)(1 - p_non))
    says not:   p <- p (1 - p_lens) / (p (1 - p_lens) + (1 - p) p_non)

which is the prior's log-odds plus one log-likelihood ratio per grade (the order of the grades does not matter
for the result, only for the history). Skills are estimated with one pseudo-count each way (a Beta(1, 1) prior),
so a grader with no calibration items yet has p_lens = p_non = 0.5 and their grades carry no weight, as a new
Space Warps agent; skills are kept inside [0.01, 0.99] so that no single grade can make an object certain.
An object *retires* (leaves the queues) when its probability passes ``retire_above`` (a lens) or falls under
``retire_below`` (not a lens). The SQL views ``grader_skill`` and ``swap_evidence`` compute the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

LENS_GRADES = ("A", "B")
SKILL_FLOOR, SKILL_CEIL = 0.01, 0.99


@dataclass(frozen=True)
class Skill:
    """A grader's skills from their calibration grades."""

    grader: str
    p_lens: float  # P(says lens | lens)
    p_non: float  # P(says not a lens | not a lens)
    lenses_shown: int
    non_lenses_shown: int

    def log_lr(self, grade: str) -> float:
        """log P(grade | lens) / P(grade | not a lens)."""
        if grade in LENS_GRADES:
            return math.log(self.p_lens / (1.0 - self.p_non))
        return math.log((1.0 - self.p_lens) / self.p_non)


def _clip(p: float) -> float:
    return min(SKILL_CEIL, max(SKILL_FLOOR, p))


def skill(grader: str, lenses_shown: int, hits: int, non_lenses_shown: int, false_alarms: int) -> Skill:
    """Skills from calibration counts (hits = lenses called A or B, false alarms = non-lenses called A or B)."""
    return Skill(grader, _clip((hits + 1.0) / (lenses_shown + 2.0)),
                 _clip((non_lenses_shown - false_alarms + 1.0) / (non_lenses_shown + 2.0)),
                 int(lenses_shown), int(non_lenses_shown))


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def probability(log_odds: float) -> float:
    if log_odds >= 0:
        return 1.0 / (1.0 + math.exp(-log_odds))
    e = math.exp(log_odds)
    return e / (1.0 + e)


@dataclass(frozen=True)
class ObjectState:
    object_id: int
    n_grades: int
    probability: float
    status: str  # "lens" / "not" (retired) or "open"


def posteriors(grades: Iterable[tuple[int, str, str]], skills: dict[str, Skill], prior: float,
               retire_below: float, retire_above: float) -> dict[int, ObjectState]:
    """Each object's lens probability from ``(object_id, grader, grade)`` rows (calibration grades left out by the
    caller); graders without a skill count as 0.5 / 0.5 (no weight)."""
    evidence: dict[int, float] = {}
    counts: dict[int, int] = {}
    for oid, grader, grade in grades:
        s = skills.get(grader)
        lr = s.log_lr(grade) if s is not None else 0.0
        evidence[int(oid)] = evidence.get(int(oid), 0.0) + lr
        counts[int(oid)] = counts.get(int(oid), 0) + 1
    base = logit(prior)
    out = {}
    for oid, e in evidence.items():
        p = probability(base + e)
        status = "lens" if p >= retire_above else "not" if p <= retire_below else "open"
        out[oid] = ObjectState(oid, counts[oid], p, status)
    return out
