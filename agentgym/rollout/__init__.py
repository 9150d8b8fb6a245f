"""Multi-turn rollouts: prompts from the env profiles' templates, the response parser, the lock-step
collector, samples."""

from agentgym.rollout.parser import ParsedAction, parse_response
from agentgym.rollout.prompts import (
    PROMPT_STYLES,
    ChatPrompt,
    Template,
    build_user_text,
    encode_chat,
    encode_prompt,
    family_of,
    format_response,
)

__all__ = [
    "PROMPT_STYLES",
    "ChatPrompt",
    "ParsedAction",
    "Template",
    "build_user_text",
    "encode_chat",
    "encode_prompt",
    "family_of",
    "format_response",
    "parse_response",
]
