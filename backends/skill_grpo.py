"""Skill-GRPO: GRPO where the student itself sees the retrieved skills while training (docs/method.md, section 5).

The loss is exactly GRPO's (grpo.py). The difference lies in the prompts: `student_sees_skills = True`
tells the trainer to put c+ into the student's own rollout and training prompts. No teacher pass is
needed. It is evaluated without skills (and, marked *, with them).
"""

from __future__ import annotations

from .grpo import GRPO


class SkillGRPO(GRPO):
    """GRPO on skill-augmented student prompts."""

    name = "skill_grpo"
    student_sees_skills = True
