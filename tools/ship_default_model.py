"""Put a built default model into the package (`agentgym/models/shipped/<env>-<key>/`), in bfloat16.

A default recipe has stages (`DefaultModelConfig.sft` then `.stages`). This takes the folders those
stages wrote, in order, and ships the last one only after checking that every folder was made by the
matching stage of the *current* recipe: the first by the default-model builder with the recipe's size,
vocabulary and first SFT stage (or its first k stages, as when a recipe gains a stage), each next one
by `agentgym sft --init <previous>` with the recipe's next stage. Anything else (another learning
rate, seed, demo count, a different size) is refused with the field that differs. The shipped
`agentgym.json` records the whole recipe, every stage's metrics and where the folders came from.

    python tools/ship_default_model.py --env alfworld --env-opt difficulty=small A1 A2 A3 A4
    python tools/ship_default_model.py --env webshop W1 W2 --check-only
    python tools/ship_default_model.py --env searchqa S1 S2 S3
    python tools/ship_default_model.py --env webshop BUILT   # one folder built from the whole recipe
    python tools/ship_default_model.py --env webshop OLD W3  # the recipe's first stages built, then one more
    python tools/ship_default_model.py --env alfworld --env-opt difficulty=small --measured bench.json

`--measured` records a `tools/bench_skill_knowledge.py policy --json` result of the shipped folder in
its `agentgym.json` (the no-skills and keyword cells per split): tests/test_shipped_models.py replays
100 episodes of each and checks they agree.

`agentgym build-model --env <env>` rebuilds the same recipe in one resumable command;
tests/test_shipped_models.py checks that every shipped folder still matches its recipe's key.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import asdict, replace
from pathlib import Path

from agentgym.cli.common import parse_kv
from agentgym.core.registry import make, resolve_env_id
from agentgym.models.default import MODEL_FILES, SHIPPED_DIR, _slug, default_config, model_key


def _diff(want: dict, got: dict, where: str) -> list[str]:
    return [f"{where}.{k}: recipe {want[k]!r}, folder {got.get(k)!r}" for k in want if got.get(k) != want[k]]


def check_stages(cfg, folders: list[Path]) -> list[str]:
    """Every way the folders differ from the recipe's stages (empty: they are its stages).

    The first folder may hold several stages: a builder run of the recipe's first k stages (all of
    them, or a prefix, as when a recipe gains a stage); each next folder is one more stage."""
    stages = cfg.all_stages
    if not folders:
        return ["no folder given"]
    missing = [str(f) for f in folders if not (f / "agentgym.json").is_file() or not (f / "config.json").is_file()]
    if missing:
        return [f"not a model folder (no agentgym.json or config.json): {', '.join(missing)}"]
    got = json.loads((folders[0] / "agentgym.json").read_text()).get("config") or {}
    held = 1 + len(got.get("stages") or [])
    if held > 1:  # a folder that the builder made from the recipe's first `held` stages
        want = json.loads(json.dumps(replace(cfg, stages=cfg.stages[: held - 1]).to_dict()))
        if held > len(stages) or got != want:
            diff = [k for k in want if got.get(k) != want[k]]
            return [f"{folders[0]} was built from another recipe (differs in: {', '.join(diff) or 'everything'})"]
    if held + len(folders) - 1 != len(stages):
        return [f"the recipe has {len(stages)} stage(s), the folders hold {held + len(folders) - 1}"]
    errors = []
    for i, (st, folder) in enumerate(zip(stages[held - 1:], folders, strict=True), start=held - 1):
        if i == held - 1 and held > 1:
            continue  # checked whole above
        info = json.loads((folder / "agentgym.json").read_text())
        got = info.get("config", {})
        errors += _diff(st.to_dict(), got.get("sft", {}), f"stage {i + 1} ({folder}) sft")
        if i == 0:
            errors += _diff({"vocab_size": cfg.vocab_size, "tokenizer_demos": cfg.tokenizer_demos}, got,
                            f"stage 1 ({folder})")
            errors += _diff(asdict(cfg.size), got.get("size", {}), f"stage 1 ({folder}) size")
        if i > 0 and not info.get("init"):
            errors.append(f"stage {i + 1} ({folder}) records no --init folder: not a continuation")
        elif i > 0 and Path(info["init"]).resolve() != folders[i - held].resolve():
            errors.append(f"stage {i + 1} ({folder}) continued {info['init']}, not {folders[i - held]}")
        arch = json.loads((folder / "config.json").read_text())
        for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                  "intermediate_size"):
            if arch.get(k) != getattr(cfg.size, k):
                errors.append(f"stage {i + 1} ({folder}) config.json {k}: recipe {getattr(cfg.size, k)}, "
                              f"folder {arch.get(k)}")
    return errors


def ship(cfg, folders: list[Path]) -> Path:
    import torch
    from safetensors.torch import load_file, save_file

    name = f"{_slug(cfg.env_id)}-{model_key(cfg)}"
    dest = SHIPPED_DIR / name
    tmp = dest.with_name(name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    last = folders[-1]
    for f in MODEL_FILES:
        if f not in ("agentgym.json", "model.safetensors", "config.json"):
            shutil.copy2(last / f, tmp / f)
    arch = json.loads((last / "config.json").read_text())
    arch["dtype"] = "bfloat16"  # what the file holds; load_policy casts to the dtype it is asked for
    (tmp / "config.json").write_text(json.dumps(arch, indent=2) + "\n")
    state = load_file(str(last / "model.safetensors"))
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in state.items()}, str(tmp / "model.safetensors"),
              metadata={"format": "pt"})
    stages = []
    for i, folder in enumerate(folders):
        m = json.loads((folder / "agentgym.json").read_text()).get("metrics", {})
        if i == 0 and m.get("stages"):  # a builder run records its stages (one or more) itself
            stages = [{**st, "folder": str(folder)} for st in m["stages"]]
            continue
        stages.append({"stage": len(stages) + 1, "folder": str(folder), "threads": m.get("threads"),
                       "seconds": m.get("total_seconds"), "train": m.get("train"), "demos": m.get("demos")})
    first_info = json.loads((folders[0] / "agentgym.json").read_text())
    first = first_info["metrics"]
    meta = {"stage": "sft", "env_id": cfg.env_id, "config": cfg.to_dict(), "builder": first_info.get("builder", "1"),
            "metrics": {"parameters": first.get("parameters"), "vocab_size": first.get("vocab_size"),
                        "total_seconds": sum(s["seconds"] or 0 for s in stages), "stages": stages},
            "shipped": {"dtype": "bfloat16", "from": "the stage folders listed, checked by "
                        "tools/ship_default_model.py", "key": model_key(cfg)}}
    (tmp / "agentgym.json").write_text(json.dumps(meta, indent=2) + "\n")
    for old in SHIPPED_DIR.glob(f"{_slug(cfg.env_id)}-*"):  # one shipped build per env id
        if old != tmp and old.is_dir():
            shutil.rmtree(old)
    tmp.rename(dest)
    return dest


def record_measured(cfg, bench_json: Path) -> Path:
    """Store the bench's no-skills and keyword cells of the shipped folder in its agentgym.json."""
    name = f"{_slug(cfg.env_id)}-{model_key(cfg)}"
    dest = SHIPPED_DIR / name
    rows = json.loads(bench_json.read_text())["policy"]
    measured: dict = {}
    for r in rows:
        if Path(r["model"]).resolve() != dest.resolve():
            raise SystemExit(f"{bench_json} measured {r['model']}, not the shipped {dest}")
        if r["skills"] in ("none", "keyword"):
            measured.setdefault(r["split"], {})[r["skills"]] = {
                k: r[k] for k in ("episodes", "temperature", "success", "success_se", "score", "valid_actions", "panel")}
    info = json.loads((dest / "agentgym.json").read_text())
    info["shipped"]["measured"] = measured
    (dest / "agentgym.json").write_text(json.dumps(info, indent=2) + "\n")
    return dest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", required=True)
    ap.add_argument("--env-opt", action="append", default=[], help="env option key=value (repeatable)")
    ap.add_argument("--check-only", action="store_true", help="check the folders against the recipe, ship nothing")
    ap.add_argument("--measured", type=Path, help="record this policy-bench JSON of the shipped folder")
    ap.add_argument("folders", nargs="*", type=Path, help="the stage folders, first stage first")
    args = ap.parse_args(argv)
    env_id = resolve_env_id(args.env)
    kw = parse_kv(args.env_opt, "--env-opt")
    make(env_id, **kw).close()
    cfg = default_config(env_id, kw)
    if args.measured:
        print(f"recorded the measurement in {record_measured(cfg, args.measured)}")
        return 0
    errors = check_stages(cfg, args.folders)
    if errors:
        print("not the recipe's stages:\n  " + "\n  ".join(errors), file=sys.stderr)
        return 1
    print(f"{len(args.folders)} folder(s) match {env_id}'s recipe (key {model_key(cfg)})")
    if not args.check_only:
        print(f"shipped {ship(cfg, args.folders)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
