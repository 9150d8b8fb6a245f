"""QA data in the originals' formats: readers for real files, writers for the generated world.

Readers accept
- FlashRAG / Search-R1 raw JSONL: one `{"id", "question", "golden_answers", ...}` object per line
  (`data_source` optional: it defaults to the file's stem when that names a known source);
- Search-R1's processed parquet (`data_source`, `prompt`, `reward_model.ground_truth.target`,
  `extra_info`, and usually the original `question` / `golden_answers` columns too).

Writers produce both: `{split}.jsonl` (raw rows plus our hop metadata) and `{split}.parquet` in
Search-R1's processed layout, next to `corpus.jsonl` in wiki-18's layout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentgym.core.errors import AgentGymError
from agentgym.envs.searchqa.protocol import question_prompt
from agentgym.envs.searchqa.questions import DATA_SOURCES, generate_questions
from agentgym.envs.searchqa.world import DEFAULT_SEED, build_world
from agentgym.retrieval.corpus import write_corpus

_QUESTION_MARK = "Question:"


def normalize_question(q: str) -> str:
    """Search-R1's preprocessing: strip, and end with a question mark."""
    q = q.strip()
    return q if q.endswith("?") else q + "?"


def _as_list(x: Any) -> list[str]:
    if x is None:
        return []
    if isinstance(x, str):
        return [x]
    if hasattr(x, "tolist"):
        x = x.tolist()
    return [str(a) for a in x]


def _from_processed(row: dict[str, Any]) -> tuple[str | None, list[str]]:
    """Question and answers from Search-R1's processed columns (prompt / reward_model)."""
    q = None
    prompt = row.get("prompt")
    if isinstance(prompt, list | tuple) and prompt:
        content = str(prompt[-1].get("content", "")) if isinstance(prompt[-1], dict) else str(prompt[-1])
        if _QUESTION_MARK in content:
            q = content.rsplit(_QUESTION_MARK, 1)[1].strip()
    gold: list[str] = []
    rm = row.get("reward_model")
    if isinstance(rm, dict) and isinstance(rm.get("ground_truth"), dict):
        gold = _as_list(rm["ground_truth"].get("target"))
    return q, gold


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise AgentGymError(f"{path}:{lineno}: not JSON ({e.msg})") from None
    return rows


def load_qa(path: str | Path, data_source: str | None = None) -> list[dict[str, Any]]:
    """Rows `{"id", "question", "golden_answers", "data_source", "metadata"}` from a JSONL or parquet file."""
    path = Path(path)
    if not path.is_file():
        raise AgentGymError(f"QA file not found: {path}")
    default_src = data_source or (path.stem if path.stem in DATA_SOURCES else None)
    out = []
    for i, row in enumerate(_read_rows(path)):
        pq_q, pq_gold = _from_processed(row)
        question = row.get("question") or pq_q
        gold = _as_list(row.get("golden_answers")) or pq_gold
        if not question or not gold:
            raise AgentGymError(f"{path}: row {i} needs 'question' and 'golden_answers' (or Search-R1's prompt/reward_model)")
        src = row.get("data_source") or default_src or "custom"
        meta = row.get("metadata")
        if isinstance(meta, str):
            try:
                meta = json.loads(meta)
            except ValueError:
                meta = {}
        meta = meta if isinstance(meta, dict) else {}
        out.append(
            {
                "id": str(row.get("id", f"{src}-{i}")),
                "question": str(question),
                "golden_answers": gold,
                "data_source": str(src),
                "metadata": meta,
            }
        )
    return out


def find_split_file(qa_path: str | Path, split: str) -> Path:
    """`qa_path` is a file (used for every split) or a folder holding `{split}.parquet` / `{split}.jsonl`."""
    p = Path(qa_path)
    if p.is_file():
        return p
    if p.is_dir():
        for name in (f"{split}.parquet", f"{split}.jsonl"):
            if (p / name).is_file():
                return p / name
        raise AgentGymError(f"{p} has no {split}.parquet or {split}.jsonl")
    raise AgentGymError(f"QA path not found: {p}")


def processed_row(row: dict[str, Any], split: str, index: int) -> dict[str, Any]:
    """One row in Search-R1's processed layout (what its training scripts read)."""
    return {
        "id": row["id"],
        "question": row["question"],
        "golden_answers": list(row["golden_answers"]),
        "data_source": row["data_source"],
        "prompt": [{"role": "user", "content": question_prompt(normalize_question(row["question"]))}],
        "ability": "fact-reasoning",
        "reward_model": {"style": "rule", "ground_truth": {"target": list(row["golden_answers"])}},
        "extra_info": {"split": split, "index": index},
        "metadata": json.dumps(row.get("metadata", {})),
    }


def write_dataset(out: str | Path, seed: int | None = None, parquet: bool = True) -> dict[str, int]:
    """Write the generated world: corpus.jsonl, {train,test}.jsonl and (optionally) {train,test}.parquet."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    world = build_world(DEFAULT_SEED if seed is None else seed)
    counts = {"corpus": write_corpus(world.corpus(), out / "corpus.jsonl")}
    for split in ("train", "test"):
        rows = generate_questions(world, split)
        with open(out / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        if parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pylist([processed_row(r, split, i) for i, r in enumerate(rows)])
            pq.write_table(table, out / f"{split}.parquet")
        counts[split] = len(rows)
    return counts
