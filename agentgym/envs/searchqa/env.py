"""Search-QA: Search-R1's search/answer protocol over a real retriever, offline.

Each episode is one question. The model searches with `<search> q </search>` (the top `topk` passages
come back in `<information>`), and ends the episode with `<answer> a </answer>`: reward 1 for an exact
match (after the standard normalization) against any golden answer, else 0; `score` is token F1;
`won` is exact match. Anything else gets a short reminder and `action_valid=False`. 4 turns by default.

Two experts: `expert_action()` plays as a competent agent that knows only what the question and the
passages show; `expert_action_with_skills(skills)` also acts on the skill texts it is given (the world's
passage wording, see `world.PASSAGE_WORDS` and agentgym/envs/searchqa/skills.yaml). A benchmark needs only
`reset(options={"task": task})`, then one of them and `step` until terminated or truncated.

By default the questions and the corpus come from the invented world in `world.py` (panels in
`questions.py`); `corpus_path` (a wiki-18 JSONL corpus, indexed and cached on first use), `index_path`
(a prebuilt pyserini Lucene index), `qa_path` (real NQ/HotpotQA/... files) and `retriever="http"` with
`retriever_url` (a running Search-R1 retrieval server) point it at real data instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agentgym.core.env import ResetError, TextEnv, Transition
from agentgym.core.errors import AgentGymError
from agentgym.core.task import Panel, Task
from agentgym.envs.searchqa.data import find_split_file, load_qa, normalize_question
from agentgym.envs.searchqa.metrics import exact_match, token_f1
from agentgym.envs.searchqa.profile import PROFILE
from agentgym.envs.searchqa.protocol import REMINDER, format_passages, parse_action, question_prompt
from agentgym.envs.searchqa.questions import QUESTIONS_VERSION, STYLE, generate_questions
from agentgym.envs.searchqa.retrievers import KINDS, make_retriever
from agentgym.envs.searchqa.skill_rules import parse_rules, words_for
from agentgym.envs.searchqa.world import DEFAULT_SEED, WORLD_VERSION, build_world
from agentgym.retrieval.base import Retriever
from agentgym.retrieval.corpus import iter_corpus

ENV_ID = "agentgym/SearchQA-v0"
PANEL_VERSION = f"{WORLD_VERSION}+{QUESTIONS_VERSION}"
#: Overrides the default retriever ("bm25") where a kwarg cannot be passed (e.g. `agentgym envs check`).
RETRIEVER_ENV_VAR = "AGENTGYM_SEARCHQA_RETRIEVER"
#: What the expert answers when its searches did not surface the evidence (it never answers unseen facts).
EXPERT_UNKNOWN = "unknown"


class SearchQAEnv(TextEnv):
    """Question answering with a search tool, Search-R1's tag protocol. See the module docstring."""

    profile = PROFILE  # how agentgym prompts, rewards and warm-starts it (also for an env made directly)

    splits = ("train", "test")
    default_max_steps = 4

    def __init__(
        self,
        split: str | None = None,
        max_steps: int | None = None,
        render_mode: str | None = None,
        *,
        retriever: str | None = None,
        retriever_url: str | None = None,
        retriever_deadline_s: float | None = None,
        corpus_path: str | Path | None = None,
        index_path: str | Path | None = None,
        qa_path: str | Path | None = None,
        topk: int = 3,
        data_sources: list[str] | tuple[str, ...] | str | None = None,
        seed: int = DEFAULT_SEED,
    ):
        super().__init__(split=split, max_steps=max_steps, render_mode=render_mode)
        kind = retriever or ("bm25" if index_path is not None else os.environ.get(RETRIEVER_ENV_VAR) or "bm25")
        if kind not in KINDS:
            raise AgentGymError(f"unknown retriever {kind!r}; valid: {', '.join(KINDS)}")
        if kind == "http" and not retriever_url:
            raise AgentGymError("retriever='http' needs retriever_url (e.g. http://127.0.0.1:8000/retrieve)")
        if topk < 1:
            raise ValueError(f"topk must be >= 1, got {topk}")
        if corpus_path is not None and not Path(corpus_path).is_file():
            raise AgentGymError(f"corpus file not found: {corpus_path}")
        self.retriever_kind = kind
        self.retriever_url = retriever_url
        if retriever_deadline_s is not None and not (0 < float(retriever_deadline_s) < float("inf")):
            raise ValueError(f"retriever_deadline_s must be a positive number of seconds, got {retriever_deadline_s!r}")
        self.retriever_deadline_s = retriever_deadline_s
        self.corpus_path = Path(corpus_path) if corpus_path is not None else None
        if index_path is not None and (kind != "bm25" or not Path(index_path).is_dir()):
            raise AgentGymError(f"index_path must be a Lucene index folder used with retriever='bm25': {index_path}")
        self.index_path = str(Path(index_path).resolve()) if index_path is not None else None
        self.qa_path = Path(qa_path) if qa_path is not None else None
        self.topk = int(topk)
        if isinstance(data_sources, str):
            data_sources = [s for s in data_sources.split(",") if s]
        self.data_sources = tuple(data_sources) if data_sources else None
        self.world_seed = int(seed)
        self._retriever: Retriever | None = None
        self._searches: list[str] = []
        self._retrieved: set[str] = set()

    # ---- data --------------------------------------------------------------------------------------
    def _rows(self, split: str) -> list[dict[str, Any]]:
        if self.qa_path is not None:
            return load_qa(find_split_file(self.qa_path, split))
        return generate_questions(build_world(self.world_seed), split)

    def load_panel(self, split: str) -> Panel:
        rows = self._rows(split)
        if self.data_sources:
            rows = [r for r in rows if r["data_source"] in self.data_sources]
        if not rows:
            raise AgentGymError(f"no {split} questions" + (f" for data sources {self.data_sources}" if self.data_sources else ""))
        tasks, ids = [], set()
        for i, r in enumerate(rows):
            tid = r["id"] if r["id"] not in ids else f"{r['id']}#{i}"
            ids.add(tid)
            meta = r.get("metadata") or {}
            tasks.append(
                Task(
                    task_id=tid,
                    task_type=r["data_source"],
                    instruction=normalize_question(r["question"]),
                    seed=i,
                    data={
                        "golden_answers": list(r["golden_answers"]),
                        "style": STYLE.get(r["data_source"], meta.get("style", "direct")),
                        "template": meta.get("template", ""),
                        "hops": list(meta.get("hops", [])),
                    },
                )
            )
        source = "generated world" if self.qa_path is None else str(self.qa_path)
        notes = {"questions": source, "retriever": self.retriever_kind, "topk": str(self.topk)}
        version = PANEL_VERSION if self.qa_path is None else "file"
        return Panel(ENV_ID, split, version, tasks, base_seed=self.world_seed, max_steps=self.max_steps, notes=notes)

    # ---- retrieval ---------------------------------------------------------------------------------
    @property
    def retriever(self) -> Retriever:
        """Built on first use (a Lucene index build or load takes seconds) and shared in the process."""
        if self._retriever is None:
            if self.index_path is not None:
                self._retriever = make_retriever("bm25", index_path=self.index_path)
            elif self.corpus_path is not None:
                path = self.corpus_path.resolve()
                st = path.stat()
                name = "corpus-" + "".join(c if c.isalnum() else "-" for c in path.stem)[:40]
                self._retriever = make_retriever(
                    self.retriever_kind,
                    docs=lambda: iter_corpus(path),
                    name=name,
                    url=self.retriever_url,
                    deadline_s=self.retriever_deadline_s,
                    share_key=(str(path), st.st_size, st.st_mtime_ns),
                )
            else:
                world_seed = self.world_seed
                self._retriever = make_retriever(
                    self.retriever_kind,
                    docs=lambda: build_world(world_seed).corpus(),
                    name=f"searchqa-{WORLD_VERSION}-{world_seed}",
                    url=self.retriever_url,
                    deadline_s=self.retriever_deadline_s,
                    share_key=(world_seed,),
                )
        return self._retriever

    # ---- episode -----------------------------------------------------------------------------------
    def validate_task(self, task: Task) -> None:
        """A question needs its golden answers (the reward), and a hop plan, if any, needs each hop's
        `doc_id` (the experts read it); refused at reset, not at the answer."""
        golden = task.data.get("golden_answers")
        if (not isinstance(golden, (list, tuple)) or not all(isinstance(g, str) for g in golden)
                or not any(g.strip() for g in golden)):
            raise ResetError(f"task {task.task_id!r}: data needs 'golden_answers', a list of strings with at "
                             f"least one answer (got {type(golden).__name__})")
        if not task.instruction.strip():
            raise ResetError(f"task {task.task_id!r} has no question ('instruction' is empty)")
        hops = task.data.get("hops")
        if hops is not None and (not isinstance(hops, (list, tuple))
                                 or not all(isinstance(h, dict) and isinstance(h.get("doc_id"), str) for h in hops)):
            raise ResetError(f"task {task.task_id!r}: 'hops' must be a list of dicts, each with a 'doc_id' string")

    def begin(self, task: Task) -> tuple[str, dict[str, Any]]:
        self._searches = []
        self._retrieved = set()
        return question_prompt(task.instruction), {"data_source": task.task_type, "style": task.data.get("style", "")}

    def act(self, action: str) -> Transition:
        assert self.task is not None
        a = parse_action(action)
        info: dict[str, Any] = {"data_source": self.task.task_type, "action_kind": a.kind}
        if a.kind == "invalid":
            return Transition(REMINDER, valid=False, info=info)
        if a.kind == "search":
            passages = self.retriever.retrieve(a.content, self.topk)
            self._searches.append(a.content)
            self._retrieved.update(p.id for p in passages)
            info.update(query=a.content, retrieved_ids=[p.id for p in passages], num_searches=len(self._searches))
            return Transition(format_passages(passages), info=info)
        golden = self.task.data["golden_answers"]
        em = exact_match(a.content, golden)
        f1 = token_f1(a.content, golden)
        info.update(answer=a.content, em=float(em), f1=f1, num_searches=len(self._searches))
        return Transition(f"Answer submitted: {a.content}", reward=float(em), done=True, won=em, score=f1, info=info)

    # ---- experts -----------------------------------------------------------------------------------
    def expert_action(self) -> str:
        """The plain expert: a competent player without the world's wording knowledge.

        It uses only what the question and the passages show: its first search is the question itself,
        then the subject plus the question's own word for the fact ("Mara Orr born"), then the bare
        subject; it recognises a supporting passage when one comes back, copies the next entity's name
        out of it (the bridge of a multi-hop question) and answers once every hop's passage was seen.
        It never answers a fact it has not seen: out of queries or turns it answers "unknown". On real
        QA files (no hop plan) it searches the question once and then gives the first golden answer.
        Reading the passages is simulated with the question's hop plan: a hop counts as found when its
        passage (`doc_id`) came back, and its subject, kind and relation stand for what a reader takes
        from the question and the previous page (tests check the subject is written there); the plan's
        own queries are never used. Both experts share this, so it does not change what skills are worth.
        """
        return self._expert(())

    def expert_action_with_skills(self, skills) -> str:
        """The expert that reads skills: it acts on their text only (`Skill.text()`, what the teacher sees).

        Where a skill states how passages word a fact (`person born or father "native of"`, see
        `skill_rules`), it searches the subject plus those words instead of the question; for a fact no
        skill covers, or after such a query missed, it plays like `expert_action`. Empty, irrelevant or
        malformed skills (any objects, strings included) give the plain behaviour.
        """
        return self._expert(parse_rules(skills))

    def _expert(self, rules) -> str:
        if self.task is None:
            raise RuntimeError("call reset() before expert_action()")
        golden = self.task.data["golden_answers"][0]
        left = self.max_steps - self.steps
        hops = self.task.data.get("hops") or []
        if not hops:
            if not self._searches and left > 1:
                return f"<think> I should look this up. </think>\n<search> {self.task.instruction} </search>"
            return f"<think> The passages answer the question. </think>\n<answer> {golden} </answer>"
        # the first hop whose passage has not come back; every earlier one has, so its subject (the
        # question's entity, or the bridge named on the previous hop's page) is known
        i = next((j for j, h in enumerate(hops) if h["doc_id"] not in self._retrieved), None)
        if i is None:
            return f"<think> The passages answer the question. </think>\n<answer> {golden} </answer>"
        hop = hops[i]
        subject = str(hop.get("subject") or "")
        queries: list[str] = []
        words = words_for(rules, str(hop.get("kind", "")), str(hop.get("attr", ""))) if rules and subject else None
        if words:
            queries.append(f"{subject} {words}")
        if i == 0:
            queries.append(self.task.instruction)
        if subject:
            queries += [f"{subject} {hop.get('ask', '')}".strip(), subject]
        for query in queries:
            if query not in self._searches and left > 1:
                return f"<think> I need more information. </think>\n<search> {query} </search>"
        return f"<think> I could not find the evidence. </think>\n<answer> {EXPERT_UNKNOWN} </answer>"

    def noisy_action(self, rng) -> str | None:
        """A plausible but unhelpful move: a vague search, or a malformed tag."""
        words = (self.task.instruction if self.task else "").split()
        if words and rng.random() < 0.7:
            start = int(rng.integers(len(words)))
            return f"<search> {' '.join(words[start:start + 2])} </search>"
        return "<search> missing closing tag"

    def close(self) -> None:
        # the retriever is shared in the process; it is not closed with one env
        self._retriever = None
        super().close()
