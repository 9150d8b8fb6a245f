"""WebShop in a real headless Chromium (Selenium + chromedriver) against the real site on 127.0.0.1, with
Lucene search: text/browser parity, garbage actions, and a browser that dies mid-episode."""

from __future__ import annotations

import os
import random
import signal

import pytest

from agentgym.core.checker import garbage_actions
from agentgym.envs.webshop.browser import WebShopBrowserEnv
from agentgym.envs.webshop.env import WebShopEnv
from agentgym.skills import SkillLibrary

pytestmark = [pytest.mark.browser, pytest.mark.java]


@pytest.fixture(scope="module")
def text_env() -> WebShopEnv:
    return WebShopEnv(split="test")


@pytest.fixture(scope="module")
def browser_env():
    env = WebShopBrowserEnv(split="test")
    yield env
    env.close()


def _pick(rng: random.Random, text_env: WebShopEnv, info: dict) -> str:
    """The expert's action, or now and then a detour: a sub-page, another page of results, a bad click."""
    adm = [a for a in info["admissible_actions"] if a not in ("search[<your query>]", "click[buy now]")]
    roll = rng.random()
    if roll < 0.25 and adm:
        return rng.choice(adm)
    if roll < 0.32:
        return rng.choice(["click[no such button]", "search[]", "buy now"])
    return text_env.expert_action()


def test_same_actions_same_pages_and_reward_in_both_modes(text_env, browser_env):
    rng = random.Random(0)
    rewards = []
    for i in range(8):
        task = text_env.panel()[i * 31]
        o1, i1 = text_env.reset(options={"task": task})
        o2, i2 = browser_env.reset(options={"task": task})
        assert o1 == o2 and i1["admissible_actions"] == i2["admissible_actions"]
        done = False
        while not done:
            a = _pick(rng, text_env, i1)
            o1, r1, t1, u1, i1 = text_env.step(a)
            o2, r2, t2, u2, i2 = browser_env.step(a)
            assert o2 == o1, a
            assert (r2, t2, u2, i2["action_valid"]) == (r1, t1, u1, i1["action_valid"]), a
            assert i2["admissible_actions"] == i1["admissible_actions"]
            assert i2["available_actions"] == i1["available_actions"]
            done = t1 or u1
        assert (i2["won"], i2["score"]) == (i1["won"], i1["score"])
        rewards.append(r1)
    assert max(rewards) == 1.0


def test_garbage_actions_never_raise_in_the_browser(text_env, browser_env):
    acts = garbage_actions(25, seed=4) + ["search[💥 emoji ünïcode]", "click[" + "z" * 3000 + "]", "search[\x00]"]
    text_env.reset(options={"task": 2})
    browser_env.reset(options={"task": 2})
    for a in acts:
        o1, _, t1, u1, i1 = text_env.step(a)
        o2, _, t2, u2, i2 = browser_env.step(a)
        assert (o2, t2, u2, i2["action_valid"]) == (o1, t1, u1, i1["action_valid"]), a[:40]
        if t1 or u1:
            text_env.reset(options={"task": 2})
            browser_env.reset(options={"task": 2})


@pytest.mark.parametrize("victim", ["chromedriver", "chromium"])
def test_a_dead_browser_is_restarted_and_the_episode_truncated(browser_env, victim):
    task = browser_env.panel()[40]
    browser_env.reset(options={"task": task})
    browser_env.step(browser_env.expert_action())  # search
    b = browser_env.browser
    pid = b.driver_pid if victim == "chromedriver" else b.browser_pids[0]
    assert pid is not None
    restarts = b.restarts
    os.kill(pid, signal.SIGKILL)
    obs, reward, term, trunc, info = browser_env.step(browser_env.expert_action())
    assert trunc and not term and reward == 0.0
    assert info["browser_restarted"] and not info["action_valid"]
    assert b.restarts == restarts + 1 and b.driver_pid != pid
    # the episode is over; the next one runs normally on the new browser
    over = browser_env.step("click[back to search]")
    assert over[2] is True and over[4]["action_valid"] is False
    browser_env.reset(options={"task": task})
    skills = SkillLibrary.load("webshop").by_group(task.task_type)
    done = False
    while not done:
        _, _, term, trunc, info = browser_env.step(browser_env.expert_action_with_skills(skills))
        done = term or trunc
    assert term and info["won"]
