"""`agentgym/WebShop-v0`: WebShop in text mode.

The observation is the page's visible text joined with " [SEP] " (WebShop's simple text mode); the
actions are `search[keywords]` and `click[thing]`. `info` carries WebShop's `available_actions`
({"has_search_bar", "clickables"}) and the same as action strings in `admissible_actions`. An action
that does nothing on the current page is a no-op: the page is unchanged and `action_valid` is False.
Buy Now ends the episode with WebShop's reward; `score` is that reward and `won` is reward == 1.
"""

from __future__ import annotations

from typing import Any

from agentgym.core.env import ADMISSIBLE, ResetError, TextEnv, Transition
from agentgym.core.task import Panel, Task
from agentgym.envs.webshop.engine import Shop, ShopState
from agentgym.envs.webshop.expert import expert_action, knowledge_from_skills
from agentgym.envs.webshop.loader import ENV_ID, ShopConfig, get_panel, get_shop
from agentgym.envs.webshop.profile import PROFILE

#: Goal fields a task must carry in `task.data`, and the types they must have.
REQUIRED_GOAL = {"instruction_text": (str,), "attributes": (list, tuple), "goal_options": (list, tuple, dict),
                 "price_upper": (int, float)}  # fmt: skip
#: Goal fields the reward reads when present (missing ones count as no match).
OPTIONAL_GOAL = {"asin": (str,), "query": (str,), "name": (str,), "product_category": (str,), "goal_id": (str,)}


def validate_goal(task_id: str, goal: dict[str, Any]) -> None:
    """Refuse a goal the shop cannot play or score, with a message naming the field."""
    missing = [k for k in REQUIRED_GOAL if k not in goal]
    if missing:
        raise ResetError(f"task {task_id!r} is not a WebShop goal: data lacks {', '.join(map(repr, missing))}")
    for key, types in {**REQUIRED_GOAL, **OPTIONAL_GOAL}.items():
        v = goal.get(key)
        if key in goal and (not isinstance(v, types) or isinstance(v, bool)):
            raise ResetError(f"task {task_id!r}: goal field {key!r} has type {type(v).__name__}, "
                             f"expected {' or '.join(t.__name__ for t in types)}")
    if not goal["instruction_text"].strip():
        raise ResetError(f"task {task_id!r}: goal field 'instruction_text' is empty")
    opts = goal["goal_options"]
    values = list(opts.values()) if isinstance(opts, dict) else list(opts)
    if not all(isinstance(a, str) for a in [*goal["attributes"], *values]):
        raise ResetError(f"task {task_id!r}: goal attributes and option values must be strings")


class WebShopEnv(TextEnv):
    """WebShop, offline and deterministic. See docs/envs/webshop.md."""

    profile = PROFILE  # how agentgym prompts, rewards and warm-starts it (also for an env made directly)

    splits = ("train", "test")
    default_max_steps = 15
    env_id = ENV_ID

    def __init__(
        self,
        split: str | None = None,
        max_steps: int | None = None,
        render_mode: str | None = None,
        *,
        num_products: int = 1000,
        data_dir: str | None = None,
        search: str = "lucene",
        goal_style: str = "human",
        show_attrs: bool = False,
        catalog_seed: int = 0,
    ):
        super().__init__(split=split, max_steps=max_steps, render_mode=render_mode)
        self.config = ShopConfig(
            num_products=int(num_products),
            data_dir=data_dir,
            search=search,
            catalog_seed=int(catalog_seed),
            goal_style=goal_style,
            show_attrs=bool(show_attrs),
        )
        self.config.validate()
        self.shop: Shop = get_shop(self.config)
        self.state: ShopState | None = None

    # ---- hooks -------------------------------------------------------------------------------------
    def load_panel(self, split: str) -> Panel:
        return get_panel(self.config, split, self.max_steps, self.env_id)

    def validate_task(self, task: Task) -> None:
        """A goal needs what the page shows and the reward reads (WebShop's goal fields), well typed."""
        validate_goal(task.task_id, task.data)

    def begin(self, task: Task) -> tuple[str, dict[str, Any]]:
        self.state = self.shop.new_state(dict(task.data))
        return self.shop.observation(self.state), self._extra()

    def act(self, action: str) -> Transition:
        assert self.state is not None
        res = self.shop.step(self.state, action)
        extra = self._extra()
        if not res.valid:
            extra["feedback"] = res.message
        if res.done:
            extra["reward_info"] = self.state.reward_info
        won = res.done and res.reward == 1.0
        return Transition(
            observation=self.shop.observation(self.state),
            reward=res.reward,
            done=res.done,
            won=won,
            score=res.reward if res.done else 0.0,
            valid=res.valid,
            info=extra,
        )

    def expert_action(self) -> str:
        if self.task is None or self.state is None:
            raise RuntimeError("call reset() before expert_action()")
        return expert_action(self.shop, self.state)

    def expert_action_with_skills(self, skills) -> str:
        """The expert that also acts on what `skills` (agentgym Skills, or their texts) state in words:
        "X is Y" wordings of page labels and "names no <option> ... wants <label>" defaults. With no,
        irrelevant or unreadable skills it is the plain `expert_action()`. See docs/envs/webshop.md."""
        if self.task is None or self.state is None:
            raise RuntimeError("call reset() before expert_action_with_skills()")
        return expert_action(self.shop, self.state, knowledge_from_skills(skills))

    # ---- helpers -----------------------------------------------------------------------------------
    def _extra(self) -> dict[str, Any]:
        assert self.state is not None
        return {
            "available_actions": self.shop.available_actions(self.state),
            ADMISSIBLE: self.shop.admissible(self.state),
            "page": self.state.page,
        }
