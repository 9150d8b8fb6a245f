"""Supervised warm-start on noisy expert demonstrations: a competent but far-from-perfect policy.

Data: the env's expert plays `demos` episodes of the train panel; with probability `noise` a step takes
a random plausible action instead (the env's `noisy_action`), so the policy imitates a mostly-right,
sometimes-wrong player, as an instruct model is at the start of RL. Every step becomes one example in
exactly the format of a rollout turn: `encode_prompt(tok, user_text)` -> `format_response(action)`.

Skill blocks: a `skill_fraction` of the episodes carry c+ (the skill store's block for the task) in
front of every prompt, so the policy learns to read privileged context the way an instruct model can;
otherwise the SDAR teacher would be shown text it cannot use. Their noise is `noise * skill_noise_scale`
(the built-in recipes: 1.0, the same noise, so that c+ does not stand for cleaner play), and if the env can act on the skills themselves (an env
method `expert_action_with_skills(skills)`, which every built-in env has), that expert plays them: the
policy learns to act on what c+ says (where objects usually are, which option a word means, which query
reaches a passage). With `skill_mismatch`, a share of those episodes carry randomly retrieved skills
instead, which the skill-reading expert can only partly use: c+ must be read, not merely noticed. The
with-skills success of the result (tools/bench_skill_knowledge.py) shows how much the teacher knows beyond
the student.

Training: loss on response tokens only (the lm head runs only at those positions), right padding with
no attention mask (causal attention makes padding at the end harmless), length-bucketed batches,
AdamW with linear warmup and cosine decay, bf16 autocast on CPU (2-4x faster here than fp32 MKL).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from agentgym.core.demos import expert_episode
from agentgym.core.recipe import SFTConfig
from agentgym.core.registry import make, template
from agentgym.models.load import body_and_head
from agentgym.models.scoring import response_logprobs
from agentgym.rollout.parser import parse_response
from agentgym.rollout.prompts import encode_prompt, family_of, format_response, trajectory_turns
from agentgym.runtime import trim_heap
from agentgym.skills import SkillStore, render_context


@dataclass
class SFTExample:
    prompt_ids: list[int]
    response_ids: list[int]
    with_skill: bool = False


def _skill_store(env_id: str, seed: int, strategy: str = "keyword"):
    try:
        return SkillStore.create(env=family_of(env_id), strategy=strategy, k=2, seed=seed)
    except Exception:
        return None


def _episode(env, task, *, noise: float, rng, env_id: str, seed: int, skills=None):
    """One expert episode; with skills and an env that supports it, the skill-aware expert plays."""
    return expert_episode(env, task, noise=noise, rng=rng, env_id=env_id, seed=seed, skills=skills)


@dataclass
class Demo:
    """One expert episode and the skill block (c+) its prompts carry (None for most episodes)."""

    trajectory: Any
    prefix: str | None = None
    #: train only the steps the expert explains (`Step.think` set): an SFTConfig.decisive_demos episode
    decisive_only: bool = False


_BRACKETED = re.compile(r"^(\w+)\[(?=[^\s\]])([^\]]*)\]")


def space_bracket(action: str, atomic: str | None = None) -> str:
    """`click[black]` -> `click[ black]` (SFTConfig.bracket_space); other actions unchanged, and so is an
    argument the family's template marks atomic (WebShop's product ids: one token of their own, which a
    space in front would split off as a lone, ambiguous space token)."""
    m = _BRACKETED.match(action)
    if m is None or _atomic_argument(action, atomic):
        return action
    return f"{m.group(1)}[ {action[m.end(1) + 1:]}"


def _atomic_argument(action: str, atomic: str | None) -> bool:
    """Whether the action's bracketed argument is one the template marks atomic (`click[b000akg758]`)."""
    m = _BRACKETED.match(action)
    return bool(m and atomic and re.fullmatch(atomic, m.group(2)))


def generate_demos(env_id: str, cfg: SFTConfig, *, progress: Callable[[int], None] | None = None) -> list[Demo]:
    """Play `cfg.demos` noisy expert episodes over the env's train panel (seeded task order); a
    `skill_fraction` of them carry the skill block and are played with `noise * skill_noise_scale`.
    Then `cfg.decisive_demos` more, marked `decisive_only`. With `cfg.bracket_space` the recorded actions
    are rewritten after each episode (the env has already read them as played)."""
    kwargs = dict(cfg.env_kwargs)
    if cfg.split:
        kwargs["split"] = cfg.split
    env = make(env_id, **kwargs).unwrapped
    store = _skill_store(env_id, cfg.seed) if cfg.skill_fraction > 0 else None
    wrong = _skill_store(env_id, cfg.seed, "random") if cfg.skill_fraction > 0 and cfg.skill_mismatch > 0 else None
    rng = np.random.default_rng(cfg.seed)
    atomic = template(family_of(env_id)).atomic
    panel = env.panel()
    order = rng.permutation(len(panel))
    demos: list[Demo] = []
    try:
        for i in range(cfg.demos + cfg.decisive_demos):
            task = panel[int(order[i % len(panel)])]
            skills = store.retrieve(task) if (store is not None and rng.random() < cfg.skill_fraction) else None
            if skills and wrong is not None and rng.random() < cfg.skill_mismatch:
                skills = wrong.retrieve(task)  # c+ that may say nothing about this task: read it, don't obey it
            prefix = None
            if skills:
                prefix = render_context(skills) or None
            noise = cfg.noise * (cfg.skill_noise_scale if prefix else 1.0)
            traj = _episode(env, task, noise=noise, rng=rng, env_id=env_id, seed=cfg.seed + i,
                            skills=skills if prefix else None)
            if cfg.bracket_space:
                for step in traj.steps:
                    step.action = space_bracket(step.action, atomic)
            demos.append(Demo(traj, prefix, decisive_only=i >= cfg.demos))
            if progress is not None:
                progress(1)
    finally:
        env.close()
    return demos


def _response(family: str, step: Any, think: bool) -> str:
    """A demo step's response text: its action, with the expert's thought in the think block if `think`."""
    return format_response(family, step.action, (step.think or "") if think else "")


def demo_texts(family: str, demos: list[Demo], think: bool = False) -> list[str]:
    """Every text the demos put in front of the model or ask it to write (tokenizer training corpus);
    `think`: responses carry the experts' thoughts (SFTConfig.think)."""
    out: list[str] = []
    for d in demos:
        t = d.trajectory
        if d.prefix:
            out.append(d.prefix)
        for text, step in trajectory_turns(family, t):
            out.append(text)
            out.append(_response(family, step, think))
    return out


def render_examples(family: str, demos: list[Demo], tokenizer: Any, max_prompt_tokens: int = 1024,
                    think: bool = False, decisive_ids: bool = False) -> list[SFTExample]:
    """Each demo step as (prompt ids, response ids), exactly as a rollout turn would be encoded. With
    `think`, a step's recorded expert thought fills its `<think>` block (SFTConfig.think); of a
    `decisive_only` demo, only the steps with a thought are rendered (with `decisive_ids`, also the clicks
    on one of the template's atomic arguments, SFTConfig.decisive_ids)."""
    atomic = template(family).atomic if decisive_ids else None
    examples: list[SFTExample] = []
    for d in demos:
        t = d.trajectory
        for text, step in trajectory_turns(family, t):
            if d.decisive_only and not step.think and not _atomic_argument(step.action, atomic):
                continue
            p = encode_prompt(tokenizer, text, privileged=d.prefix)
            resp = _response(family, step, think)
            r = tokenizer(resp, add_special_tokens=False)["input_ids"]
            if not parse_response(family, resp).valid_format and tokenizer.eos_token_id is not None:
                r = [*r, tokenizer.eos_token_id]  # a malformed answer has no closing tag: learn to end it
            if len(p) > max_prompt_tokens:
                p = p[-max_prompt_tokens:]
            examples.append(SFTExample(p, list(r), d.prefix is not None))
    return examples


def demo_stats(demos: list[Demo], examples: list[SFTExample]) -> dict[str, Any]:
    n = max(1, len(demos))
    skilled = [d for d in demos if d.prefix]
    plain = [d for d in demos if not d.prefix]
    return {
        "episodes": len(demos), "examples": len(examples),
        "steps_per_episode": sum(len(d.trajectory.steps) for d in demos) / n,
        "demo_success": sum(d.trajectory.won for d in demos) / n,
        "skill_episodes": len(skilled), "decisive_episodes": sum(d.decisive_only for d in demos),
        "demo_success_with_skills": sum(d.trajectory.won for d in skilled) / len(skilled) if skilled else float("nan"),
        "demo_success_without_skills": sum(d.trajectory.won for d in plain) / len(plain) if plain else float("nan"),
        "prompt_tokens_mean": float(np.mean([len(e.prompt_ids) for e in examples])) if examples else 0.0,
        "response_tokens_mean": float(np.mean([len(e.response_ids) for e in examples])) if examples else 0.0,
    }


def demo_examples(env_id: str, tokenizer: Any, cfg: SFTConfig, *,
                  progress: Callable[[int], None] | None = None) -> tuple[list[SFTExample], dict[str, Any]]:
    """Generate and render the noisy expert episodes (`cfg.demos`, then `cfg.decisive_demos`). Returns
    (examples, stats)."""
    demos = generate_demos(env_id, cfg, progress=progress)
    examples = render_examples(family_of(env_id), demos, tokenizer, cfg.max_prompt_tokens, think=cfg.think,
                               decisive_ids=cfg.decisive_ids)
    return examples, demo_stats(demos, examples)


def _batches(examples: list[SFTExample], batch_size: int, rng: np.random.Generator) -> list[list[int]]:
    """Shuffled, length-bucketed batches: sort windows of 32 batches by length, then shuffle batches."""
    idx = rng.permutation(len(examples)).tolist()
    window = batch_size * 32
    out: list[list[int]] = []
    for lo in range(0, len(idx), window):
        chunk = sorted(idx[lo: lo + window], key=lambda i: len(examples[i].prompt_ids) + len(examples[i].response_ids))
        out.extend(chunk[j: j + batch_size] for j in range(0, len(chunk), batch_size))
    order = rng.permutation(len(out))
    return [out[i] for i in order]


def copy_examples(n: int, vocab: range, rng: np.random.Generator, *, span: tuple[int, int] = (4, 16),
                  gap: tuple[int, int] = (0, 24)) -> list[SFTExample]:
    """Synthetic induction data: prompt `c x1..xk g1..gm c`, response `x1..xk` (random tokens; `c` a random
    cue token that marks where the span began). Solving it needs the attention pattern that copying any
    string of the prompt needs: find the earlier occurrence of the current token, emit what followed it."""
    out = []
    lo, hi = vocab.start, vocab.stop
    for _ in range(n):
        k = int(rng.integers(span[0], span[1] + 1))
        m = int(rng.integers(gap[0], gap[1] + 1))
        toks = rng.integers(lo, hi, size=k + m + 1).tolist()
        cue, x, g = toks[0], toks[1: k + 1], toks[k + 1:]
        out.append(SFTExample([cue, *x, *g, cue], x))
    return out


def response_loss(model: Any, batch: list[SFTExample], pad_id: int, bf16: bool, prompt_weight: float = 0.0):
    """Cross-entropy of `batch`: (sum over response tokens, their count), from the trainer's own scoring
    function (`agentgym.models.scoring.response_logprobs`: the lm head runs only where a loss is taken),
    so that SFT and RL read the policy's log-probabilities the same way. With `prompt_weight > 0` the
    returned sum also holds `prompt_weight * n_response * mean CE of the prompt tokens` (next-token
    prediction on the prompt), so that `sum / count = mean response CE + prompt_weight * mean prompt CE`:
    the same forward, scored from the first token on."""
    if body_and_head(model)[0] is None:
        raise ValueError("SFT needs a transformers causal LM (get_decoder / get_output_embeddings)")
    if prompt_weight <= 0:
        logp, _, mask = response_logprobs(model, [e.prompt_ids for e in batch], [e.response_ids for e in batch],
                                          pad_id=pad_id, bf16=bf16, share_prompts=False)
        return -logp.sum(), int(mask.sum().item())
    # one pass over each whole sequence: "responses" from the second token on, split at the prompt's end
    logp, _, _ = response_logprobs(model, [e.prompt_ids[:1] for e in batch],
                                   [e.prompt_ids[1:] + e.response_ids for e in batch],
                                   pad_id=pad_id, bf16=bf16, share_prompts=False)
    resp = torch.zeros_like(logp, dtype=torch.bool)
    prompt = torch.zeros_like(resp)
    for r, e in enumerate(batch):
        P, R = len(e.prompt_ids), len(e.response_ids)
        prompt[r, : P - 1] = True
        resp[r, P - 1 : P - 1 + R] = True
    n = int(resp.sum().item())
    loss = -logp[resp].sum()
    if prompt.any():
        loss = loss + prompt_weight * n * (-logp[prompt].mean())
    return loss, n


def train_sft(model: Any, examples: list[SFTExample], cfg: SFTConfig, *, pad_id: int,
              on_step: Callable[[int, int, float], None] | None = None,
              copy_vocab: range | None = None) -> dict[str, Any]:
    """Train `model` in place. `on_step(step, total, loss)` reports progress; `copy_vocab`: the token ids
    the synthetic copy task draws from (default: the whole embedding). Returns metrics."""
    if not examples and not cfg.copy_warmup_steps:
        raise ValueError("no SFT examples")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed + 1)
    copy_rng = np.random.default_rng(cfg.seed + 2)
    steps_per_epoch = math.ceil(len(examples) / cfg.batch_size)
    demo_steps = steps_per_epoch * cfg.epochs
    n_mix = int(round(demo_steps * cfg.copy_mix / max(1e-9, 1 - cfg.copy_mix))) if cfg.copy_warmup_steps else 0
    total = cfg.copy_warmup_steps + demo_steps + n_mix
    warm = max(1, int(cfg.warmup_frac * total))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay)

    def lr_at(step: int) -> float:
        if step < warm:
            return cfg.lr * (step + 1) / warm
        prog = (step - warm) / max(1, total - warm)
        return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * prog)))

    vocab = copy_vocab or range(0, model.get_input_embeddings().num_embeddings)
    copy_bs = max(32, cfg.batch_size)

    def schedule():
        """Copy warm-up steps, then the demo epochs with copy batches spread evenly among them."""
        for _ in range(cfg.copy_warmup_steps):
            yield None
        demo = [b for _epoch in range(cfg.epochs) for b in _batches(examples, cfg.batch_size, rng)]
        every = len(demo) / n_mix if n_mix else 0.0
        done_mix = 0
        for i, b in enumerate(demo):
            while n_mix and done_mix < n_mix and done_mix * every <= i:
                done_mix += 1
                yield None
            yield b

    model.train()
    t0 = time.perf_counter()
    tokens = 0
    first_loss = last_loss = float("nan")
    ema = copy_ema = None
    for step, b in enumerate(schedule()):
        batch = copy_examples(copy_bs, vocab, copy_rng, span=(4, cfg.copy_max_span)) if b is None else [examples[i] for i in b]
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        loss_sum, n = response_loss(model, batch, pad_id, cfg.bf16, 0.0 if b is None else cfg.prompt_loss_weight)
        loss = loss_sum / n
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        val = float(loss.detach())
        if b is None:
            copy_ema = val if copy_ema is None else 0.95 * copy_ema + 0.05 * val
        else:
            ema = val if ema is None else 0.95 * ema + 0.05 * val
            if math.isnan(first_loss):  # the first demo batch
                first_loss = val
            last_loss = ema
        tokens += sum(len(e.prompt_ids) + len(e.response_ids) for e in batch)
        if step % 25 == 24:
            trim_heap()
        if on_step is not None:
            on_step(step + 1, total, ema if ema is not None else copy_ema)
    model.eval()
    secs = time.perf_counter() - t0
    return {"steps": total, "seconds": secs, "tokens": tokens, "tokens_per_second": tokens / secs if secs else 0.0,
            "first_loss": first_loss, "final_loss": last_loss, "examples": len(examples),
            "copy_steps": cfg.copy_warmup_steps + n_mix, "copy_final_loss": copy_ema}
