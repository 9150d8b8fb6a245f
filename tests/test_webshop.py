"""WebShop (text mode) on the pure-Python BM25 fallback: catalog, goals, reward, pages, actions, expert.

The Lucene path, the browser and the load test live in test_webshop_lucene.py / test_webshop_browser.py /
test_webshop_site.py.
"""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest

from agentgym.core.checker import check_text_env, garbage_actions
from agentgym.core.demos import expert_demos
from agentgym.envs.webshop import vocab
from agentgym.envs.webshop.catalog import (
    Catalog,
    generate,
    generate_item,
    parse_pricing,
    product_from_item,
    resolve_price,
    task_type_of,
    write_files,
)
from agentgym.envs.webshop.engine import parse_action
from agentgym.envs.webshop.env import WebShopEnv
from agentgym.envs.webshop.goals import load_goals, price_cap, split_goals
from agentgym.envs.webshop.reward import purchase_reward
from agentgym.envs.webshop.textutil import fuzzy_match, normalize_color, title_nouns
from agentgym.skills import SkillLibrary

SEP = " [SEP] "


@pytest.fixture(scope="module")
def env() -> WebShopEnv:
    return WebShopEnv(split="test", search="bm25")


@pytest.fixture(scope="module")
def catalog(env) -> Catalog:
    return env.shop.catalog


def run_expert(env: WebShopEnv, task, skills=None) -> tuple[dict, list[str]]:
    """One expert episode: the plain expert, or with `skills` the expert that reads them."""
    env.reset(options={"task": task})
    actions, done, info = [], False, {}
    while not done:
        a = env.expert_action() if skills is None else env.expert_action_with_skills(skills)
        adm = env._last_info["admissible_actions"]
        ok = a in adm or (a.startswith("search[") and "search[<your query>]" in adm)
        assert ok, f"expert action {a!r} not admissible"
        actions.append(a)
        _, _, term, trunc, info = env.step(a)
        done = term or trunc
    return info, actions


# ---- catalog ---------------------------------------------------------------------------------------------
def test_generator_is_deterministic_and_prefix_stable():
    a, b = generate(120), generate(120)
    assert json.dumps(a.items) == json.dumps(b.items)
    assert json.dumps(a.human) == json.dumps(b.human)
    small = generate(40)
    assert json.dumps(small.items) == json.dumps(a.items[:40])
    assert len({it["asin"] for it in generate(3000).items}) == 3000  # ASINs never collide
    assert generate(5, seed=1).items[0]["asin"] != a.items[0]["asin"]


def test_generated_items_use_webshops_fields_and_realistic_content(catalog):
    item, attrs, kind, aud = generate_item(7)
    for key in ("asin", "name", "full_description", "small_description", "pricing", "product_category",
                "query", "category", "customization_options", "images"):  # fmt: skip
        assert key in item
    assert re.fullmatch(r"B0[0-9A-Z]{8}", item["asin"])
    assert item["pricing"].startswith("$") and " › " in item["product_category"]
    # every task type is represented, with options such as size and color
    types = {task_type_of(p.category, p.product_category, p.query) for p in catalog.products}
    assert types == set(vocab.TASK_TYPES)
    names = {n for p in catalog.products for n in p.options}
    assert {"color", "size", "flavor name", "scent"} <= names
    assert all(len(p.title.split()) <= 16 for p in catalog.products)


def test_task_type_mapping_agrees_with_the_generator():
    for i in range(400):
        item, _, kind, _ = generate_item(i)
        assert task_type_of(item["category"], item["product_category"], item["query"]) == kind.task_type, item["name"]
    # WebShop's own categories
    assert task_type_of("fashion", "Clothing, Shoes & Jewelry › Women › Shoes › Boots", "women boots") == "footwear"
    assert task_type_of("fashion", "Clothing, Shoes & Jewelry › Men › Watches", "mens watch") == "accessories"
    assert task_type_of("fashion", "Clothing, Shoes & Jewelry › Men › Clothing › Shirts", "men shirt") == "apparel"
    assert task_type_of("furniture", "Home & Kitchen › Furniture", "ottoman") == "home_decor"
    assert task_type_of("food", "Grocery & Gourmet Food › Snacks", "jerky") == "other"
    assert task_type_of("beauty", "Beauty & Personal Care › Hair Care", "shampoo") == "beauty_health"


def test_loader_reads_written_files_like_the_generator(tmp_path):
    files = generate(200)
    write_files(files, tmp_path)
    from_disk = Catalog.from_dir(tmp_path)
    direct = Catalog.from_records(files.items, files.attributes, files.human, source="x")
    assert [p.asin for p in from_disk.products] == [p.asin for p in direct.products]
    assert [p.search_text() for p in from_disk.products] == [p.search_text() for p in direct.products]
    assert len(Catalog.from_dir(tmp_path, num_products=50)) == 50


def test_loader_accepts_original_webshop_records():
    raw = {
        "asin": "B07XYZ1234",
        "name": "Acme Stretch Jeans",
        "full_description": "Soft jeans.",
        "small_description": "Slim fit with stretch.",  # a string, not a list: WebShop wraps it
        "pricing": "$19.99$34.50",
        "product_category": "Clothing, Shoes & Jewelry › Men › Clothing › Jeans",
        "query": "Men's Jeans ",
        "category": "fashion",
        "customization_options": {"Color": [{"value": "Dark Blue/Black", "image": "u"}], "Size": None},
        "images": ["img.jpg"],
    }
    p = product_from_item(raw, {"B07XYZ1234": {"attributes": ["slim fit", "machine wash"]}})
    assert p is not None
    assert p.bullets == ["Slim fit with stretch."] and p.query == "men's jeans"
    assert p.options == {"color": ["dark blue | black"]}
    assert p.pricing == [19.99, 34.5] and p.price_tag == "$19.99 to $34.5"
    assert 19.99 <= p.price <= 34.5 and p.price == resolve_price("B07XYZ1234", [19.99, 34.5])  # same every load
    assert product_from_item(dict(raw, asin="nan"), {}) is None
    assert product_from_item(dict(raw, asin="B07XYZ12345"), {}) is None  # WebShop drops ASINs over 10 chars
    no_price = product_from_item(dict(raw, pricing=""), {})
    assert no_price is not None and no_price.price == 100.0 and no_price.attributes == ["DUMMY_ATTR"]
    assert parse_pricing("$1,299.00") == [1299.0] and parse_pricing(None) == []


# ---- goals and panels ------------------------------------------------------------------------------------
def test_panels_are_frozen_sized_and_independent_of_catalog_size(env):
    test, train = env.panel("test"), env.panel("train")
    assert len(test) == 500 and len(train) == 3500
    assert not set(t.task_id for t in test) & set(t.task_id for t in train)
    again = WebShopEnv(split="test", search="bm25", num_products=1500)
    assert again.panel("test").fingerprint == test.fingerprint  # goals come from the first 1,000 products
    assert {t.task_type for t in test} == set(vocab.TASK_TYPES)
    t = test[0]
    assert t.data["asin"] in env.shop.catalog.by_asin
    assert re.search(r", and price lower than \d+\.00 dollars$", t.instruction)
    assert t.data["price_upper"] > env.shop.catalog[t.data["asin"]].price


def test_human_and_synthetic_goals_load_through_one_path(catalog):
    human = load_goals(catalog, "human")
    synth = load_goals(catalog, "synthetic")
    assert human and synth
    keys = {"asin", "query", "name", "product_category", "instruction_text", "attributes", "price_upper", "goal_options"}
    for g in (human[0], synth[0]):
        assert keys <= set(g)
        assert purchase_reward(catalog[g["asin"]], g, _options_for(catalog[g["asin"]], g))[0] == 1.0
    assert isinstance(human[0]["goal_options"], list) and isinstance(synth[0]["goal_options"], dict)
    assert " with " in synth[0]["instruction_text"] or not synth[0]["goal_options"]
    assert split_goals(human)["test"] == split_goals(load_goals(catalog, "human"))["test"]
    with pytest.raises(ValueError):
        load_goals(catalog, "mystery")


def test_price_cap_follows_webshop_rule():
    cap, text = price_cap(23.5, "g1")
    assert cap in (40.0, 50.0, 60.0) and text == f", and price lower than {cap:.2f} dollars"
    assert price_cap(23.5, "g1") == (cap, text)
    assert price_cap(995.0, "g") == (1_000_000.0, "")


# ---- reward ----------------------------------------------------------------------------------------------
def _options_for(product, goal) -> dict[str, str]:
    from agentgym.envs.webshop.expert import best_options

    return best_options(product, goal)


def test_reward_formula_on_the_target(env, catalog):
    goal = next(t.data for t in env.panel("test") if len(t.data["goal_options"]) == 2 and len(t.data["attributes"]) == 2)
    p = catalog[goal["asin"]]
    good = _options_for(p, goal)
    r, info = purchase_reward(p, goal, good)
    assert r == 1.0 and info["r_type"] == 1.0 and info["r_price"]
    # one option missing: (2 attributes + 1 option + price) / (2 + 2 + 1)
    one = dict(list(good.items())[:1])
    assert purchase_reward(p, goal, one)[0] == pytest.approx(4 / 5)
    assert purchase_reward(p, goal, {})[0] == pytest.approx(3 / 5)
    # over the price cap
    r, info = purchase_reward(p, dict(goal, price_upper=p.price - 0.01), good)
    assert not info["r_price"] and r == pytest.approx(4 / 5)


def test_reward_type_factor_punishes_the_wrong_kind_of_product(env, catalog):
    goal = env.panel("test")[0].data
    target = catalog[goal["asin"]]
    other = next(p for p in catalog.products if p.query != target.query
                 and not set(title_nouns(p.title)) & set(title_nouns(target.title))
                 and len({x.strip() for x in p.product_category.split("›")} & {x.strip() for x in target.product_category.split("›")}) < 2)  # fmt: skip
    r, info = purchase_reward(other, goal, {})
    assert info["r_type"] == 0.0 and r == 0.0


def test_fuzzy_matching_and_text_helpers():
    assert fuzzy_match("Non-Slip", "non slip") == 100  # case and punctuation do not matter
    assert fuzzy_match("machine wash", "machine washable") < 90
    # WebShop's alphabetical color list: the first listed word contained in the value wins
    assert normalize_color("navy blue") == "blue" and normalize_color("12 count") == "12 count"
    nouns = title_nouns("Zarvo Men's Lightweight Knit Running Shoes, Arch Support")
    assert "shoes" in nouns and "zarvo" in nouns and "lightweight" not in nouns and "men's" not in nouns
    assert title_nouns("Zarvo Men's Lightweight Knit Running Shoes, Arch Support") == nouns
    assert parse_action("  CLICK[Buy Now] ") == ("click", "buy now")
    assert parse_action("search[ red   shoes ]") == ("search", "red shoes")
    assert parse_action("buy now") == (None, "")


# ---- the text env ----------------------------------------------------------------------------------------
def test_pages_and_actions_follow_webshop(env):
    obs, info = env.reset(options={"task": 3})
    instr = info["instruction"]
    assert obs == SEP.join(["WebShop", "Instruction:", instr, "Search"])
    assert info["available_actions"] == {"has_search_bar": True, "clickables": []}
    assert info["admissible_actions"] == ["search[<your query>]"]
    assert info["task_type"] in vocab.TASK_TYPES

    obs, r, term, trunc, info = env.step("search[black]")
    assert info["action_valid"] and not term and r == 0.0
    segs = obs.split(SEP)
    assert segs[:5] == ["Instruction:", instr, "Back to Search", "Page 1 (Total results: 50)", "Next >"]
    asins = [s for s in segs if re.fullmatch(r"B0[0-9A-Z]{8}", s)]
    assert len(asins) == 10
    assert info["available_actions"]["clickables"][:2] == ["back to search", "next >"]

    obs2, *_ , info = env.step("click[Next >]")
    assert "Page 2 (Total results: 50)" in obs2 and "< Prev" in obs2 and info["action_valid"]
    _, *_, info = env.step("click[< prev]")
    assert info["action_valid"]
    obs, *_, info = env.step(f"click[{asins[0]}]")  # ASINs are clicked case-insensitively
    assert info["action_valid"] and info["page"] == "item"
    p = env.shop.catalog[asins[0]]
    segs = obs.split(SEP)
    assert segs[2:4] == ["Back to Search", "< Prev"]
    assert segs[-5:] == ["Rating: " + p.rating, "Description", "Features", "Reviews", "Buy Now"]
    assert p.title in segs and f"Price: {p.price_tag}" in segs
    for sub, content in (("Description", [p.description]), ("Features", p.bullets)):
        obs, *_, info = env.step(f"click[{sub.lower()}]")
        assert obs.split(SEP)[4:] == content and info["available_actions"]["clickables"] == ["back to search", "< prev"]
        obs, *_, info = env.step("click[< Prev]")
        assert info["page"] == "item"
    assert "click[attributes]" not in info["admissible_actions"]  # hidden by default, as in WebShop
    obs, *_, info = env.step("click[Back to Search]")
    assert obs.startswith("WebShop [SEP] Instruction:") and info["page"] == "search"


def test_invalid_actions_are_no_ops(env):
    obs0, _ = env.reset(options={"task": 5})
    for a in ("click[buy now]", "search[]", "buy now", "click[b000000000]", "search[a", "", "[]", "click[search]"):
        obs, r, term, trunc, info = env.step(a)
        assert obs == obs0 and r == 0.0 and not term and info["action_valid"] is False and info["feedback"]
    env.step("search[lamp]")
    obs1 = env._last_obs
    obs, *_, info = env.step("search[other words]")  # no search bar on the results page
    assert obs == obs1 and not info["action_valid"]


def test_step_cap_truncates_at_15(env):
    assert env.max_steps == 15
    env.reset(options={"task": 0})
    for i in range(15):
        _, _, term, trunc, _ = env.step("click[nothing]")
        assert not term and trunc == (i == 14)
    obs, _, term, _, info = env.step("search[x]")
    assert term and not info["action_valid"]


def test_attributes_sub_page_when_enabled():
    env = WebShopEnv(split="test", search="bm25", show_attrs=True)
    task = env.panel()[0]
    env.reset(options={"task": task})
    env.step("search[" + task.data["query"] + "]")
    asin = next(a for a in env._last_info["available_actions"]["clickables"] if a.startswith("b0"))
    _, *_, info = env.step(f"click[{asin}]")
    assert "click[attributes]" in info["admissible_actions"]
    obs, *_, info = env.step("click[attributes]")
    p = env.shop.catalog[asin.upper()]
    assert obs.split(SEP)[4:] == p.attributes + [p.category, p.query, p.product_category]


def test_contract_checker_passes(env):
    results = check_text_env(env, n_garbage=150)
    failed = [(r.name, r.detail) for r in results if not r.passed]
    assert not failed


def test_fuzzed_actions_never_raise_and_keep_the_page_consistent(env):
    rng = random.Random(0)
    junk = garbage_actions(300, seed=1) + ["click[" + "x" * 5000 + "]", "search[" + "y " * 3000 + "]", "search[\x00]"]
    done, valid, bought = True, 0, 0
    for i in range(1200):
        if done:
            obs, info = env.reset(seed=i)
        adm = info["admissible_actions"]
        roll = rng.random()
        if roll < 0.45 and adm:
            a = rng.choice(adm)
            if a == "search[<your query>]":
                a = f"search[{rng.choice(['shoes', 'red', 'zz top', '', 'ß 中文', 'lamp 12'])}]"
        elif roll < 0.8:
            a = rng.choice(junk)
        else:
            a = rng.choice(["click[", "click[]", "Click[Back to Search]", "search[[x]]", "click[buy now]"])
        obs, r, term, trunc, info = env.step(a)
        assert isinstance(obs, str) and 0.0 <= info["score"] <= 1.0
        assert set(info["available_actions"]["clickables"]) == {x[6:-1] for x in info["admissible_actions"] if x.startswith("click[")}
        if term:
            assert info["page"] == "done" and obs.startswith("Thank you for shopping with us!")
            bought += 1
        valid += info["action_valid"]
        done = term or trunc
    assert valid > 300 and bought > 5  # the fuzzer reached deep pages, not only the search page


def test_same_task_gives_the_same_text_every_time(env):
    a = WebShopEnv(split="test", search="bm25")
    o1, _ = env.reset(seed=11)
    o2, _ = a.reset(seed=11)
    assert o1 == o2
    for act in ("search[blue rain jacket waterproof]", "click[next >]"):
        assert env.step(act)[0] == a.step(act)[0]


# ---- the expert --------------------------------------------------------------------------------------------
def test_expert_solves_the_test_panel_on_the_fallback_search(env):
    """With its category's skills the expert solves every goal; without them it is what it is (it misses
    the category conventions, see test_webshop_skills.py)."""
    lib = SkillLibrary.load("webshop")
    panel = env.panel("test")
    won, own, first, plain = 0, 0, 0, 0
    for task in list(panel)[::5]:  # 100 goals
        info, actions = run_expert(env, task, lib.by_group(task.task_type))
        won += info["won"]
        results, bought = env.state.results, env.state.asin
        own += bought == task.data["asin"]
        first += bought == results[0]
        if task.data["asin"] in results:  # never passes over the goal's own product for a lower-ranked one
            assert results.index(bought) <= results.index(task.data["asin"])
        assert actions[0].startswith("search[") and actions[-1] == "click[buy now]"
        plain += run_expert(env, task)[0]["won"]
    # it buys the first result that fully satisfies the goal: usually the top one, often not the goal's own
    assert won == 100 and first >= 60 and own < 100
    assert 30 <= plain <= 80  # the plain expert: competent, not perfect


def test_expert_demos_export(env, tmp_path):
    from agentgym.core.trajectory import write_jsonl

    n = write_jsonl(expert_demos(env, 6, seed=3, env_id="agentgym/WebShop-v0"), tmp_path / "demos.jsonl")
    lines = [json.loads(x) for x in (tmp_path / "demos.jsonl").read_text().splitlines()]
    assert n == 6 and len(lines) == 6
    noisy = list(expert_demos(env, 10, noise=0.3, seed=1))
    assert all(t.steps for t in noisy)
    assert np.mean([t.won for t in noisy]) >= 0.3


def test_env_loads_webshop_files_from_a_folder(tmp_path):
    files = generate(300)
    write_files(files, tmp_path)
    env = WebShopEnv(split="test", search="bm25", data_dir=str(tmp_path))
    synth = WebShopEnv(split="test", search="bm25", data_dir=str(tmp_path), goal_style="synthetic")
    assert len(env.shop.catalog) == 300
    assert len(env.panel("test")) == 300  # a quarter of 1,200 human-style goals
    assert env.panel("test").notes["catalog"].startswith("files:")
    lib = SkillLibrary.load("webshop")
    for e in (env, synth):
        task = e.panel()[0]
        info, _ = run_expert(e, task, lib.by_group(task.task_type))
        assert info["won"]
    task = synth.panel()[1]
    assert run_expert(synth, task)[0]["won"]  # synthetic goals write every label literally
    with pytest.raises(Exception, match="not found"):
        WebShopEnv(search="bm25", data_dir=str(tmp_path / "missing"))
