"""WebShop, offline and deterministic: a generated catalog in WebShop's file formats (or the original
files), frozen goal panels, Lucene search, the text env, a Flask web site and a Selenium browser env.

Modules: `vocab` (what products are made of), `conventions` (the per-category instruction conventions
the skills state), `catalog` (generator + loader), `goals` (goals and panels), `reward` (WebShop's
reward), `search` (Lucene / BM25), `engine` (the page state machine), `expert` (plain and skill-reading
experts), `env` (text mode), `app` + `server` (the web site), `browser` (browser mode). What the skills
are worth to the expert: `tools/bench_skill_knowledge.py experts --env webshop`.
"""
