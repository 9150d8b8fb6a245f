"""tools/webshop_id_mass.py: it finds each episode's first results page and scores real probabilities on it."""

from __future__ import annotations

import torch
from fakes.tools import load_tool

from agentgym.core.demos import expert_episode
from agentgym.core.trajectory import write_jsonl
from agentgym.envs.webshop.env import WebShopEnv
from agentgym.models.default import SHIPPED_DIR
from agentgym.models.load import load_policy

tool = load_tool("webshop_id_mass")


def test_first_results_pages_and_the_shipped_policys_mass_on_listed_ids(tmp_path):
    env = WebShopEnv(split="test", search="bm25")
    trajs = [expert_episode(env, t) for t in list(env.panel("test"))[:8]]
    write_jsonl(trajs, tmp_path / "expert.jsonl")
    pages = tool.first_results_pages(tmp_path / "expert.jsonl")
    assert len(pages) == 8  # every expert episode searches first, then sees a results page
    for page, traj in zip(pages, trajs, strict=True):
        step = next(s for s in traj.steps if "Total results" in s.observation[:400])
        assert page.listed and all(f"click[{a}]" in step.admissible_actions for a in page.listed)
        assert all(a in page.text for a in page.listed) and page.valid
    model, tok = load_policy(next(SHIPPED_DIR.glob("webshop-v0-*")), dtype=torch.float32)
    mass, top = tool.id_mass(model, tok, pages)
    assert ((mass >= 0) & (mass <= 1 + 1e-6) & (top <= 1 + 1e-6)).all()
    # the shipped policy clicks a listed product on most first results pages: real mass on the page's ids
    assert mass.mean() > 0.2
    # an empty page list of ids gets no mass (a page that lists no product cannot be clicked into)
    assert tool.id_mass(model, tok, [pages[0]._replace(listed=[])])[0][0] == 0.0
