"""Skill store: per-env skill libraries and retrieval strategies for the privileged teacher context c+.

In SDAR the teacher is the policy itself, prompted with retrieved skills (c+) in front of the unchanged
student prompt; the student never sees them. Skills know tasks and text, nothing of tensors.

    from agentgym.skills import SkillStore, render_context
    store = SkillStore.create("alfworld", strategy="keyword", k=2)
    c_plus = render_context(store.retrieve(task))
"""

from agentgym.skills.embedding import EmbeddingRetriever
from agentgym.skills.library import GENERAL, Skill, SkillGroup, SkillLibrary, env_name_from_id, packaged_envs
from agentgym.skills.render import HEADER, render_context, teacher_prompt
from agentgym.skills.retrievers import (
    STRATEGIES,
    KeywordRetriever,
    RandomRetriever,
    Retriever,
    UCBRetriever,
    make_retriever,
)
from agentgym.skills.store import SkillStore

__all__ = [
    "GENERAL",
    "HEADER",
    "STRATEGIES",
    "EmbeddingRetriever",
    "KeywordRetriever",
    "RandomRetriever",
    "Retriever",
    "Skill",
    "SkillGroup",
    "SkillLibrary",
    "SkillStore",
    "UCBRetriever",
    "env_name_from_id",
    "make_retriever",
    "packaged_envs",
    "render_context",
    "teacher_prompt",
]
