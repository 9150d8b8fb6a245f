"""The training loop: `Trainer.step()` owns one whole step, which is:

1. sample B tasks (this rank's share) and roll out G episodes of each (one GRPO group per task);
2. turn episodes into turn-samples with rewards R = scale * won and group-normalized advantages
   (an episode lost to an env fault gives no samples; a group left with one episode is dropped, as it
   has no baseline; when most of a step's episodes fail the run stops with one clear error);
3. score teacher log-probs (same weights, c+ from the skill store prepended, no gradient) and
   reference log-probs, only when the backend declares it needs them;
4. the backend's loss over all samples (token-mean over the whole batch), one optimizer step;
5. sync weights to the engine, update the skill store with the outcomes, advance the step counter and
   the history (the run loop, `agentgym.trainer.run`, only evaluates, logs and checkpoints around it).

A `Trainer` is given its starting policy (`TrainConfig.model`, or `policy=`): constructing one never
builds a model; `agentgym.trainer.run.default_policy` resolves an env's default policy first.

Every step re-seeds its randomness from (seed, step), so a run resumed from a checkpoint takes exactly
the steps an uninterrupted run would have taken.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import random
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

import agentgym
from agentgym.backends import get_backend
from agentgym.backends.base import TokenBatch, is_finite, nonfinite_keys, zero_loss
from agentgym.backends.grpo import LOG_RATIO_CLAMP
from agentgym.core.errors import AgentGymError
from agentgym.core.registry import profile_of, resolve_env_id
from agentgym.distributed import (
    OptimConfig,
    all_ranks_true,
    all_reduce_sum,
    build_learner,
    combine_metrics,
    init_distributed,
    max_across_ranks,
    reduce_metrics,
    token_mean_denominator,
)
from agentgym.engines.base import SamplingParams, make_engine
from agentgym.models.load import load_policy
from agentgym.models.lora import (
    LoraSettings,
    adapter_names,
    adapter_state_dict,
    add_lora,
    enable_gradient_checkpointing,
    merged_state_dict,
)
from agentgym.models.scoring import response_logprobs
from agentgym.rollout.collector import collect
from agentgym.rollout.prompts import encode_prompt, fit_prompt
from agentgym.runtime import peak_memory_gb, trim_heap
from agentgym.skills import SkillStore, render_context
from agentgym.trainer import checkpoint as ckpt
from agentgym.trainer.config import (
    TRAIN_SKILL_LIBRARY_HOW,
    TrainConfig,
    skill_library_for,
)
from agentgym.trainer.evaluate import evaluate

#: Mean |engine - trainer| log-probability of the sampled tokens (nats per token) past which a step
#: warns: the engine sampled from other weights than the trainer holds (a stale or mismatched server).
#: Float and bf16-autocast error stay far below it; another policy is typically nats away.
ENGINE_LOGP_GAP_WARN = 0.5


def seed_step(seed: int, step: int) -> int:
    """The seed of one training step; the same (seed, step) always gives the same step."""
    s = (seed * 1_000_003 + step * 7_919 + 17) % (2**31 - 1)
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)
    return s


class Trainer:
    """Everything a run holds (env panel, policy, reference, learner, engine, skill store) and its step.

    `policy` is the model folder to start from when `cfg.model` is unset (the resolved default policy);
    one of the two is required."""

    def __init__(self, cfg: TrainConfig, *, log=print, policy: str | Path | None = None):
        self._policy = policy
        self.cfg = cfg.resolved()
        self.cfg.validate()  # configs built in code get the CLI's checks too
        self.log = log
        self.env_id = resolve_env_id(self.cfg.env)
        self.profile = profile_of(self.env_id)
        self.family = self.profile.family
        self.run_dir = Path(self.cfg.out_dir)
        self.rank, self.world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
        self.is_main = self.rank == 0
        self.backend = get_backend(self.cfg.backend, **self._backend_overrides())
        self.device = self._pick_device()
        self.steps_done = 0  # training steps done (a resumed run: the checkpoint's)
        self.history: list[dict[str, Any]] = []  # each done step's metrics
        self._setup_env()
        self._load_skill_library()  # before the model: a missing library is one line, not a wasted build
        self._setup_model()
        self._setup_skills()

    # ---- setup ---------------------------------------------------------------------------------
    def _backend_overrides(self) -> dict[str, Any]:
        """Per-env defaults (KL coefficient, invalid-action penalty) where the backend has such a field,
        then the user's backend options (an unknown one is an error that names the valid ones)."""
        names = {f.name for f in dataclasses.fields(get_backend(self.cfg.backend).config)}
        defaults = {"kl_coef": self.cfg.kl_coef, "invalid_penalty": self.cfg.invalid_penalty}
        return {**{k: v for k, v in defaults.items() if k in names}, **self.cfg.backend_kwargs}

    def _pick_device(self) -> torch.device:
        if self.cfg.device == "auto":
            if torch.cuda.is_available():
                return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            return torch.device("cpu")
        if self.cfg.device == "cuda" and not torch.cuda.is_available():
            raise AgentGymError("--device cuda asked for, but no CUDA device is available")
        return torch.device(self.cfg.device)

    def _setup_env(self) -> None:
        try:
            probe = agentgym.make(self.env_id, **self.cfg.env_kwargs).unwrapped
        except (TypeError, ValueError) as e:
            raise AgentGymError(f"bad env option for {self.env_id}: {e}") from e
        self.train_split = self.cfg.train_split or probe.splits[0]
        self.eval_split = self.cfg.eval_split or probe.splits[-1]
        for s in (self.train_split, self.eval_split):
            if s not in probe.splits:
                raise AgentGymError(f"unknown split {s!r} for {self.env_id}; valid: {', '.join(probe.splits)}")
        self.train_panel = probe.panel(self.train_split)
        probe.close()
        self.cfg.check_panel(self.train_split, len(self.train_panel))

    def _setup_model(self) -> None:
        if self.cfg.deepspeed:
            info = init_distributed(deepspeed=True)
            self.rank, self.world, self.is_main = info.rank, info.world_size, info.is_main
            if self.cfg.tasks_per_step % self.world:
                raise AgentGymError(f"tasks_per_step ({self.cfg.tasks_per_step}) must be a multiple of the "
                                    f"number of processes ({self.world})")
        source = self.cfg.model or self._policy
        if source is None:
            raise AgentGymError("a Trainer needs a policy to start from: set TrainConfig.model to a Hugging Face model "
                                "folder, or pass policy=agentgym.trainer.run.default_policy(cfg) (which may build "
                                "the env's default policy)")
        path = Path(source)
        self.init_model_path = path
        self.model, self.tokenizer = load_policy(path, dtype=torch.float32)
        self.model.to(self.device)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.ref_model = None
        if self.backend.needs_ref:
            self.ref_model = copy.deepcopy(self.model).eval().requires_grad_(False)
        # ZeRO-3 partitions the weights, which cannot generate: rollouts use a full copy, synced each step
        zero3 = self.cfg.deepspeed and self.cfg.zero_stage == 3
        self.gen_model = copy.deepcopy(self.model).requires_grad_(False) if zero3 else self.model
        # the memory options act on the trained policy only, after the copies above: the reference stays
        # the base policy, the ZeRO-3 copy a plain model that is sent merged weights (`_policy_state`)
        if self.cfg.gradient_checkpointing:
            enable_gradient_checkpointing(self.model)
        self.lora = self.cfg.lora_rank > 0
        if self.lora:  # in place: the learner, the teacher pass and the HF engine all see base + adapter
            add_lora(self.model, LoraSettings(self.cfg.lora_rank, self.cfg.lora_alpha, self.cfg.lora_dropout,
                                              self.cfg.lora_target_modules), seed=self.cfg.seed)
        # the schedule advances per optimizer update; warm-up is counted in training steps
        optim = OptimConfig(lr=self.cfg.lr, weight_decay=self.cfg.weight_decay, grad_clip=self.cfg.grad_clip,
                            warmup_steps=self.cfg.warmup_steps * self.cfg.ppo_epochs * self.cfg.ppo_mini_batches)
        ctx = getattr(self.model.config, "max_position_embeddings", None)
        #: prompts (student and teacher) are cut to this: the context minus the response cap
        self.max_prompt_tokens = int(ctx) - self.cfg.max_new_tokens if ctx else None
        if self.max_prompt_tokens is not None and self.max_prompt_tokens < 16:
            raise AgentGymError(f"max_new_tokens ({self.cfg.max_new_tokens}) leaves no room for a prompt in the "
                                f"model's context of {ctx} tokens")
        #: shared-prompt scoring makes a data-dependent number of forward calls: not under ZeRO-3, where
        #: every rank's calls gather the weights together
        self.share_prompts = not (self.cfg.deepspeed and self.cfg.zero_stage == 3)
        self.learner = build_learner(self.model, optim, zero_stage=self.cfg.zero_stage if self.cfg.deepspeed else None,
                                     bf16=False)
        if self.cfg.engine == "sglang":
            self.engine = make_engine("sglang", path, url=self.cfg.sglang_url, tokenizer=self.tokenizer,
                                      **self.cfg.sglang_launch())
            if self.cfg.sglang_url is not None:  # a running server holds whatever it was given: push ours
                self.engine.update_weights(path)
        else:
            self.engine = make_engine("hf", self.gen_model, tokenizer=self.tokenizer)

    def _load_skill_library(self) -> None:
        """The skill library, only for backends that use skills (a GRPO run needs none): `skill_library`,
        else the one of the env's profile, else one clear error."""
        self.skill_library = None
        if self.backend.needs_skills:
            self.skill_library = skill_library_for(self.env_id, self.cfg.skill_library,
                                                   needed_by=f"the {self.backend.name} backend",
                                                   how=TRAIN_SKILL_LIBRARY_HOW)

    def _setup_skills(self) -> None:
        """The skill store, only for backends that use skills (the teacher's c+ or the student's prompt)."""
        self.skills = None
        if self.skill_library is not None:
            self.skills = SkillStore.from_library(self.skill_library, strategy=self.cfg.skills, k=self.cfg.skills_k,
                                                  seed=self.cfg.seed)

    # ---- one step ------------------------------------------------------------------------------
    def sample_tasks(self, step: int) -> list:
        """This rank's share of the step's B tasks (B = tasks_per_step is the global batch)."""
        rng = np.random.default_rng([self.cfg.seed, step, 7])
        idx = rng.choice(len(self.train_panel), size=self.cfg.tasks_per_step, replace=False)
        return [self.train_panel[int(i)] for i in idx[self.rank :: self.world]]

    def step(self) -> dict[str, Any]:
        """One whole training step: collect the step's rollouts, score them (teacher, reference), the
        backend loss and the optimizer update(s), the engine's weight sync, the skill store's outcome
        feedback; then the step counter and the history advance. Returns the step's metrics (`step` is
        the number of steps done, counting this one). The caller decides only when to evaluate and save."""
        m = self._train_step(self.steps_done)
        self.steps_done += 1
        m["step"] = self.steps_done
        self.history.append(m)
        return m

    def train_step(self) -> dict[str, Any]:
        """Gone: one line saying what replaced it (the caller used to advance the counter itself)."""
        raise AgentGymError("Trainer.train_step() is now Trainer.step(), which also advances steps_done and the "
                            "history (Trainer.step is no longer the step counter: read steps_done)")

    def _train_step(self, step: int) -> dict[str, Any]:
        cfg = self.cfg
        sseed = seed_step(cfg.seed, step)
        t0 = time.perf_counter()
        tasks = self.sample_tasks(step)
        skills_of = {t.task_id: self.skills.retrieve(t) for t in tasks} if self.skills is not None else {}
        context_of = {k: render_context(v) for k, v in skills_of.items()}
        block_fn = (lambda task: context_of[task.task_id]) if self.backend.student_sees_skills else None
        self.model.eval()
        sampling = SamplingParams(temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens,
                                  min_new_tokens=cfg.min_new_tokens, stop=(), seed=sseed)  # stop=(): the env family's closing tags
        batch = collect(self.engine, self.env_id, tasks, cfg.group_size, sampling, env_kwargs={**cfg.env_kwargs, "split": self.train_split},
                        skill_block_fn=block_fn, history=cfg.history, step_timeout_s=cfg.env_step_timeout_s,
                        max_prompt_tokens=self.max_prompt_tokens, log=self.log, **cfg.prompt_options())
        self._stop_if_most_failed(batch, step)
        metrics: dict[str, Any] = {"step": step, **self._rollout_metrics(batch), "time_rollout": time.perf_counter() - t0}
        samples = complete_groups(batch.samples)
        metrics["samples_dropped"] = len(batch.samples) - len(samples)
        if cfg.filter_groups:
            samples, metrics["groups_filtered_frac"] = drop_uniform_groups(samples)
        metrics.update(self.update(samples, context_of, step))
        self._sync_engine()
        for traj in batch.trajectories:  # outcome feedback for the bandit (a no-op for other retrievers)
            tid = traj.task["task_id"]
            if tid in skills_of and not traj.meta.get("env_error"):  # an env fault says nothing of the skills
                self.skills.update(self._task_of(tid, tasks), skills_of[tid], float(traj.won))
        trim_heap()  # varying batch shapes fragment the heap (agentgym.runtime)
        metrics["time_step"] = time.perf_counter() - t0
        metrics["mem_peak_gb"] = peak_memory_gb(self.device)
        return metrics

    def _stop_if_most_failed(self, batch, step: int) -> None:
        """One clear error when more than half of the step's episodes (over all ranks) were lost to env
        faults: the env is broken, not unlucky, and training on the rest would be training on noise."""
        failed = int(all_reduce_sum(float(len(batch.failures))))
        total = int(all_reduce_sum(float(len(batch.trajectories))))
        if total and 2 * failed > total:
            first = batch.failures[0].line() if batch.failures else "on another rank"
            hint = (f"; raise env_step_timeout_s (now {self.cfg.env_step_timeout_s:g} s) if the env is just slow"
                    if batch.stats.env_timeouts else "")
            raise AgentGymError(f"step {step + 1}: {failed} of {total} episodes failed in the env {self.env_id}, "
                                f"so the run stops (first: {first}){hint}")

    def update(self, samples: list, context_of: dict[str, str], step: int) -> dict[str, Any]:
        """Rewards, advantages, teacher/reference scoring, the backend loss and the optimizer updates.

        One update per batch by default (the paper's). With `ppo_epochs` x `ppo_mini_batches` > 1 the
        batch is shuffled each epoch and split into mini-batches, one optimizer update each; old
        log-probs, teacher and reference log-probs are all scored once, before the first update, by the
        weights that sampled the batch. `context_of[task_id]` is the c+ block of each task."""
        cfg = self.cfg
        t0 = time.perf_counter()
        # decided by all ranks together: a rank left without samples (its groups lost to env faults) must
        # not return alone while the others enter the collectives below
        if not all_ranks_true(bool(samples)):
            warnings.warn("no turn-samples to train on (on some rank: lost to env faults, or every group filtered); "
                          "step skipped on all ranks", stacklevel=2)
            return {"skipped": True}
        rewards = [cfg.reward_scale * float(s.won) for s in samples]
        adv = self.backend.advantages(rewards, [s.action_valid for s in samples], [s.group_id for s in samples])
        n_updates = cfg.ppo_epochs * cfg.ppo_mini_batches
        self.model.train()
        fixed, t_teacher, t_ref = self._score_fixed(samples, context_of, old=n_updates > 1)
        # every rank runs as many updates, none of them empty: at most as many mini-batches as samples
        n_mb = min(cfg.ppo_mini_batches, -max_across_ranks(-len(samples)))
        parts: list[tuple[float, dict[str, float]]] = []
        norms: list[float] = []
        for epoch in range(cfg.ppo_epochs):
            order = np.arange(len(samples))
            if n_updates > 1:
                order = np.random.default_rng([cfg.seed, step, epoch, 11]).permutation(len(samples))
            for mb in np.array_split(order, n_mb):
                norm = self._one_update([int(i) for i in mb], samples, adv, fixed, step, parts, first_epoch=epoch == 0)
                if norm is not None:
                    norms.append(norm)
        n_tokens = sum(len(s.response_ids) for s in samples)
        sums = reduce_metrics(combine_metrics(parts), weight=float(n_tokens)) if parts else {}
        gap = sums.get("engine_logp_gap", 0.0)
        if gap > ENGINE_LOGP_GAP_WARN:
            warnings.warn(f"step {step + 1}: the engine's log-probs of the sampled tokens are {gap:.2f} nats per token "
                          f"from the trainer's (warns past {ENGINE_LOGP_GAP_WARN}): the engine sampled from other "
                          "weights (a stale or mismatched server?)", stacklevel=2)
        out = {
            **sums, "lr": self.learner.lr, "grad_norm": sum(norms) / len(norms) if norms else float("nan"),
            "skipped": not norms, "samples": len(samples), "response_tokens": n_tokens,
            "time_teacher": t_teacher, "time_ref": t_ref, "time_update": time.perf_counter() - t0,
        }
        if n_updates > 1:
            out["ppo_updates"] = len(norms)
        return out

    def _score_fixed(self, samples: list, context_of: dict[str, str], *, old: bool) -> tuple[dict[str, list], float, float]:
        """Per-sample log-probs that stay fixed through the step's updates, scored without gradient:
        the teacher's (c+ prepended, when the backend has one), the reference policy's (when it has a KL)
        and, with `old`, the sampling weights' own (PPO's old log-probs). Chunked as the updates are."""
        wanted = {"teacher": self.backend.needs_teacher, "ref": self.ref_model is not None, "old": old}
        fixed: dict[str, list] = {k: [None] * len(samples) if on else [] for k, on in wanted.items()}
        t_teacher = t_ref = 0.0
        mbs = self.cfg.micro_batch_size
        order = by_length(samples, range(len(samples)))
        chunks = [order[lo : lo + mbs] for lo in range(0, len(samples), mbs)]
        # under ZeRO-3 every forward gathers the weights on all ranks at once: as many chunks everywhere
        # (a rank with fewer scores its last chunk again; the values are the same)
        n_chunks = len(chunks) if self.share_prompts else max_across_ranks(len(chunks))
        for ci in range(n_chunks):
            rows = chunks[min(ci, len(chunks) - 1)]
            chunk = [samples[i] for i in rows]
            prompts, responses = [s.prompt_ids for s in chunk], [s.response_ids for s in chunk]
            with torch.no_grad():
                if self.backend.needs_teacher:
                    ts = time.perf_counter()
                    t_prompts = [fit_prompt(encode_prompt(self.tokenizer, s.user_text, privileged=context_of[s.task_id]),
                                            self.max_prompt_tokens, self.tokenizer) for s in chunk]
                    _put(fixed["teacher"], rows, response_logprobs(self.learner.model, t_prompts, responses,
                                                                   pad_id=self.pad_id, bf16=self.cfg.bf16, share_prompts=self.share_prompts))
                    t_teacher += time.perf_counter() - ts
                if self.ref_model is not None:
                    ts = time.perf_counter()
                    _put(fixed["ref"], rows, response_logprobs(self.ref_model, prompts, responses, pad_id=self.pad_id,
                                                               bf16=self.cfg.bf16, share_prompts=self.share_prompts))
                    t_ref += time.perf_counter() - ts
                if old:
                    _put(fixed["old"], rows, response_logprobs(self.learner.model, prompts, responses, pad_id=self.pad_id,
                                                               bf16=self.cfg.bf16, share_prompts=self.share_prompts))
        return fixed, t_teacher, t_ref

    def _one_update(self, idx: list[int], samples: list, adv: torch.Tensor, fixed: dict[str, list], step: int,
                    parts: list, *, first_epoch: bool) -> float | None:
        """One optimizer update on the samples `idx` (a mini-batch), micro-batch by micro-batch; appends
        each micro-batch's (tokens, metrics) to `parts`; the grad norm, or None when it was skipped."""
        cfg = self.cfg
        mbs = cfg.micro_batch_size
        idx = by_length(samples, idx)  # micro-batches of similar lengths: less padding, shared prompts together
        chunks = [idx[lo : lo + mbs] for lo in range(0, len(idx), mbs)]
        denom = token_mean_denominator(sum(len(samples[i].response_ids) for i in idx))
        seq_denom = token_mean_denominator(len(idx)) if cfg.loss_agg != "token-mean" else None
        n_chunks = max_across_ranks(len(chunks))  # every rank runs as many micro-batches (collectives)
        finite = True
        self.learner.zero_grad()
        for ci in range(n_chunks):
            rows = chunks[min(ci, len(chunks) - 1)]
            chunk = [samples[i] for i in rows]
            logp, entropy, mask = response_logprobs(self.learner.model, [s.prompt_ids for s in chunk],
                                                    [s.response_ids for s in chunk], pad_id=self.pad_id,
                                                    with_entropy=self.backend.needs_entropy, bf16=cfg.bf16,
                                                    share_prompts=self.share_prompts)
            # one update per batch: the sampling policy is the current one, so old_logp = logp (ratio 1)
            old = _stack([fixed["old"][i] for i in rows], logp) if fixed["old"] else logp.detach()
            tb = TokenBatch(logp=logp, old_logp=old, mask=mask, advantages=adv[rows].to(logp.device),
                            ref_logp=_stack([fixed["ref"][i] for i in rows], logp) if fixed["ref"] else None,
                            teacher_logp=_stack([fixed["teacher"][i] for i in rows], logp) if fixed["teacher"] else None,
                            entropy=entropy, denom=denom, agg=cfg.loss_agg, seq_denom=seq_denom,
                            is_weight=tis_weights(old, mask, chunk, cfg.tis_cap) if cfg.tis_cap else None)
            loss, m = self.backend.loss(tb, step)
            ok = all_ranks_true(is_finite(loss, m))
            if not ok:
                if finite:
                    warnings.warn(f"step {step}: non-finite {', '.join(nonfinite_keys(loss, m)) or 'loss on another rank'}; "
                                  "update skipped", stacklevel=2)
                finite = False
            if not ok or ci >= len(chunks):  # padding micro-batch or non-finite: same collectives, zero gradient
                loss = zero_loss(tb)
            else:
                extra = {"engine_logp_gap": engine_logp_gap(logp, mask, chunk)} if first_epoch else {}
                if tb.is_weight is not None:
                    w = tb.is_weight[mask.bool()]
                    extra.update(tis_weight_mean=float(w.mean()) if w.numel() else 1.0,
                                 tis_capped_frac=float((w >= cfg.tis_cap).float().mean()) if w.numel() else 0.0)
                parts.append((float(mask.sum()), {**m, **extra}))
            self.learner.backward(loss, last=ci == n_chunks - 1)
        if finite:
            return self.learner.step()
        self.learner.zero_grad()
        return None

    @staticmethod
    def _task_of(task_id: str, tasks: list):
        return next(t for t in tasks if t.task_id == task_id)

    def _rollout_metrics(self, batch) -> dict[str, float]:
        trajs = batch.trajectories
        n = max(1, len(trajs))
        samples = batch.samples
        return {
            "success": sum(t.won for t in trajs) / n,
            "score": sum(t.score for t in trajs) / n,
            "episode_length": sum(len(t.steps) for t in trajs) / n,
            "valid_action_ratio": sum(s.action_valid for s in samples) / max(1, len(samples)),
            "format_valid_ratio": sum(getattr(s, "format_valid", True) for s in samples) / max(1, len(samples)),
            "episodes": len(trajs),
            # lost episodes count as failures in `success`; the lines name the task and the error
            "env_failures": batch.stats.env_failures,
            "env_timeouts": batch.stats.env_timeouts,
            **({"env_errors": [f.line() for f in batch.failures[:10]]} if batch.failures else {}),
            "prompt_truncated": batch.stats.prompt_truncated,
            "prompt_mismatch": batch.stats.prompt_mismatch,  # conversation turns off the sampled tokens
            "episodes_over_budget": batch.stats.episodes_over_budget,  # max_episode_tokens failures
        }

    def _sync_engine(self) -> None:
        """New weights reach the engine: shared module (nothing to do), a full copy (ZeRO-3), or a server."""
        if self.cfg.engine == "sglang":
            path = self.run_dir / "sync_policy"
            self._save_policy(path)
            self.engine.update_weights(path)
        elif self.gen_model is not self.model:
            self.gen_model.load_state_dict(self._policy_state())
        else:
            self.engine.update_weights(self.gen_model)

    def _policy_state(self) -> dict[str, torch.Tensor]:
        """The full policy weights as CPU tensors under the base model's names; with LoRA the adapters are
        merged in, so whatever leaves the trainer (a saved policy, a server, the ZeRO-3 generation copy)
        is a plain Hugging Face state dict. Under ZeRO-3 all ranks must call (it gathers)."""
        if not self.lora:
            return self.learner.full_state_dict()
        with self.learner.gathered():
            return merged_state_dict(self.learner.module)

    def _save_policy(self, path: Path) -> None:
        """The full policy as a Hugging Face directory (all ranks take part: ZeRO-3 gathers)."""
        state = self._policy_state()
        if self.is_main:
            self.learner.module.save_pretrained(path, state_dict=state, safe_serialization=True)
            self.tokenizer.save_pretrained(path)

    # ---- evaluation ----------------------------------------------------------------------------
    def evaluate(self, *, with_skills: bool = False, episodes: int | None = None):
        if with_skills and self.skills is None:
            raise AgentGymError(f"backend {self.backend.name} uses no skills; evaluate with `agentgym eval --with-skills`")
        self.model.eval()
        return evaluate(self.engine, self.env_id, env_kwargs=self.cfg.env_kwargs, split=self.eval_split,
                        episodes=episodes or self.cfg.eval_episodes, temperature=self.cfg.eval_temperature,
                        max_new_tokens=self.cfg.max_new_tokens, history=self.cfg.history,
                        with_skills=with_skills, skill_store=self.skills if with_skills else None,
                        step_timeout_s=self.cfg.env_step_timeout_s, max_prompt_tokens=self.max_prompt_tokens,
                        log=self.log, **self.cfg.prompt_options())

    # ---- checkpoints ---------------------------------------------------------------------------
    def save_checkpoint(self) -> Path | None:
        ds = self.cfg.deepspeed
        if ds:  # DeepSpeed writes its own (sharded) optimizer state on every rank
            self.learner.engine.save_checkpoint(str(self.run_dir / "deepspeed"), tag=f"step_{self.steps_done:06d}")
        state = self._policy_state()  # merged with LoRA: the checkpoint's policy is a plain HF directory
        adapter = None
        if self.lora:  # the adapter itself is what a resume loads (the base weights come from init_model)
            with self.learner.gathered():
                adapter = adapter_state_dict(self.learner.module)
        if not self.is_main:
            return None
        optim_state = None if ds else {"optimizer": self.learner.optimizer.state_dict(),
                                       "scheduler": self.learner.scheduler.state_dict()}
        return ckpt.save(
            self.run_dir, self.steps_done, model=self.learner.module, tokenizer=self.tokenizer, optim_state=optim_state,
            save_model_fn=lambda p: self.learner.module.save_pretrained(p, state_dict=state, safe_serialization=True),
            trainer_state={"step": self.steps_done, "history": self.history, "init_model": str(self.init_model_path),
                           "config": self.cfg.to_dict()},
            skills_state=self.skills.state_dict() if self.skills is not None else None, keep=self.cfg.keep_checkpoints,
            adapter=adapter,
        )

    def resume(self) -> bool:
        """Load the newest readable checkpoint of `out_dir`, if any; True when one was loaded.

        A checkpoint whose files are torn (a crash or a full disk after it was marked complete) is skipped
        with a warning for the one before it; weights of another architecture are a clear error."""
        found = ckpt.complete(self.run_dir)
        for path in found:
            try:
                state = ckpt.load(path)
                self._check_lora_options(path, state["trainer_state"])  # a refusal, not a torn checkpoint
                # LoRA: the adapter alone (the policy folder holds merged weights, for eval and serving)
                weights = load_file(str(state["adapter_file"] if self.lora else state["policy_dir"] / "model.safetensors"))
                break
            except (SafetensorError, OSError, ValueError) as e:  # torn; a refusal (AgentGymError) propagates
                warnings.warn(f"checkpoint {path.name} is unreadable ({str(e).splitlines()[0][:200]}); "
                              "trying the one before it", stacklevel=2)
                if self.is_main:  # set aside, so that pruning never keeps it as the newest
                    os.replace(path, path.with_name(path.name + ".torn"))
        else:
            if found:
                raise AgentGymError(f"no readable checkpoint in {self.run_dir / 'checkpoints'} "
                                    f"({len(found)} found, all torn); move it away to start anew")
            return False
        # (ZeRO-3 partitions parameters, so their local shapes say nothing: DeepSpeed checks those itself)
        own = self.learner.module.state_dict() if self.cfg.zero_stage != 3 else {}
        wrong = [k for k, v in weights.items() if k in own and tuple(own[k].shape) != tuple(v.shape)]
        if wrong:
            raise AgentGymError(f"checkpoint {path} holds weights of another architecture ({wrong[0]}: "
                                f"{tuple(weights[wrong[0]].shape)} vs {tuple(own[wrong[0]].shape)}); resume with the "
                                "model it was trained from, or use a new --out")
        saved = state["trainer_state"]
        was = (saved.get("config") or {}).get("backend"), saved.get("init_model")
        if was[0] is not None and was[0] != self.cfg.backend:
            raise AgentGymError(f"checkpoint {path} is a {was[0]} run; resume it with --backend {was[0]}, or use a new --out")
        if was[1] is not None and Path(was[1]).resolve() != Path(self.init_model_path).resolve():
            raise AgentGymError(f"checkpoint {path} was trained from {was[1]}, not {self.init_model_path}; resume it with "
                                "that model, or use a new --out")
        missing, unexpected = self.learner.module.load_state_dict(weights, strict=False)
        trained = adapter_names(self.learner.module) if self.lora else None  # LoRA: the base is init_model's
        lost = [k for k in missing if (k in trained if trained is not None else "lm_head" not in k)]
        if unexpected or lost:
            raise AgentGymError(f"checkpoint {path} does not match the model (missing {missing[:3]}, unexpected {unexpected[:3]})")
        if self.cfg.deepspeed:
            self.learner.engine.load_checkpoint(str(self.run_dir / "deepspeed"), tag=path.name)
        elif state["optim_state"] is not None:
            self.learner.optimizer.load_state_dict(state["optim_state"]["optimizer"])
            self.learner.scheduler.load_state_dict(state["optim_state"]["scheduler"])
        if self.gen_model is not self.model:
            self.gen_model.load_state_dict(self._policy_state())
        if self.cfg.engine == "sglang":  # the server still holds the starting weights
            self._sync_engine()
        if self.skills is not None and state["skills"]:
            self.skills.load_state_dict(state["skills"])
        ckpt.set_rng_state(state["rng"])
        ts = state["trainer_state"]
        self.steps_done = int(ts["step"])
        self.history = list(ts["history"])
        return True

    def _check_lora_options(self, path: Path, saved: dict[str, Any]) -> None:
        """A checkpoint holds full weights, or an adapter of one rank, scale and set of layers: resuming it
        with other LoRA options would load weights that do not fit, or mean something else."""
        keys = ("lora_rank", "lora_alpha", "lora_target_modules")
        config = saved.get("config") or {}
        was = {k: config.get(k, getattr(TrainConfig, k)) for k in keys}  # older checkpoints: no LoRA
        now = {k: getattr(self.cfg, k) for k in keys}
        if (was["lora_rank"] == 0 and now["lora_rank"] == 0) or was == now:
            return
        if was["lora_rank"] == 0:
            raise AgentGymError(f"checkpoint {path} is a full fine-tuning run; resume it with lora_rank=0, or use a new --out")
        opts = " ".join(f"--set {k}={was[k]}" for k in keys)
        raise AgentGymError(f"checkpoint {path} is a LoRA run; resume it with {opts}, or use a new --out")

    def close(self) -> None:
        self.engine.close()


def engine_logprobs(chunk: list, fill: torch.Tensor) -> torch.Tensor:
    """The engine's sampled-token log-probs of `chunk` (the samples' `old_logprobs`) as a copy of the
    [N, T] tensor `fill`, which keeps its value wherever the engine gave none."""
    out = fill.clone()
    for i, s in enumerate(chunk):
        k = min(len(s.old_logprobs), out.shape[1])
        if k:
            out[i, :k] = torch.tensor(s.old_logprobs[:k], dtype=out.dtype, device=out.device)
    return out


def engine_logp_gap(logp: torch.Tensor, mask: torch.Tensor, chunk: list) -> float:
    """Mean |trainer - engine| log-probability over the response tokens of `chunk` (`logp`, `mask`:
    [N, T] from the trainer's forward; the engine's are the samples' `old_logprobs`). The loss uses the
    trainer's own log-probs, so only this shows that the engine sampled from other weights."""
    old = engine_logprobs(chunk, torch.zeros_like(mask))
    n = float(mask.sum())
    return float(((logp.detach().float() - old.to(logp.device)).abs() * mask.to(logp.device)).sum()) / n if n else 0.0


def tis_weights(old: torch.Tensor, mask: torch.Tensor, chunk: list, cap: float) -> torch.Tensor:
    """Truncated importance weights min(exp(logp_old - logp_engine), cap) per response token [N, T].

    The tokens were sampled by the engine, the loss treats them as samples of the trainer's policy; the
    ratio corrects for the difference (kernels, bf16, a quantized server) and the cap bounds its
    variance. A token the engine gave no log-prob for gets weight 1."""
    eng = engine_logprobs(chunk, old.detach())
    w = torch.exp((old.detach() - eng).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)).clamp(max=cap)
    return torch.where(mask.bool(), w, torch.ones_like(w))


def by_length(samples: list, idx) -> list[int]:
    """`idx` ordered by prompt length, equal prompts adjacent, then by response length. Cut into
    micro-batches in this order, a batch pads to lengths close to its own (multi-turn prompts vary 5x in
    length and responses are short; in collection order a WebShop batch computed 1.5x its real tokens,
    sorted by length 1.04x) and the rollouts that share a prompt meet in one micro-batch, where scoring
    runs that prompt once. The loss is a sum over samples: the order changes only float rounding."""
    return sorted(idx, key=lambda i: (len(samples[i].prompt_ids), samples[i].prompt_ids,
                                      len(samples[i].response_ids), i))


def _put(out: list, rows: list[int], scored: tuple) -> None:
    """Each sample's unpadded per-token values into its slot of `out`."""
    for i, r in zip(rows, _rows(scored), strict=True):
        out[i] = r


def _rows(scored: tuple) -> list[torch.Tensor]:
    """The per-sample rows (valid tokens only) of a `response_logprobs` result."""
    logp, _, mask = scored
    return [logp[i, : int(mask[i].sum())].detach() for i in range(logp.shape[0])]


def _stack(rows: list[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    """Per-sample rows right-padded with zeros to the [N, T] shape of `like`."""
    out = torch.zeros_like(like, dtype=like.dtype).detach()
    for i, r in enumerate(rows):
        out[i, : len(r)] = r.to(out.dtype)
    return out


def complete_groups(samples: list) -> list:
    """The turn-samples of groups that still hold two or more episodes.

    The collector already leaves out the samples of episodes lost to an env fault; a group advantage is
    then normalised over the episodes that did finish (a lost episode is neither success nor failure
    of the policy), and a group left with a single episode has no baseline, so it is dropped too."""
    episodes: dict[Any, set[int]] = {}
    for s in samples:
        episodes.setdefault(s.group_id, set()).add(s.episode_id)
    return [s for s in samples if len(episodes[s.group_id]) >= 2]


def drop_uniform_groups(samples: list) -> tuple[list, float]:
    """The turn-samples of groups whose episodes do not all end alike (some won, some lost), and the
    fraction of groups dropped. A group of all failures (or all successes) has no outcome signal for
    GRPO; left in, its turns still count in the token-mean's denominator and their invalid-action
    penalties, normalised within the group, become its only advantages (DAPO's dynamic sampling,
    without the resampling)."""
    outcomes: dict[Any, set[bool]] = {}
    for s in samples:
        outcomes.setdefault(s.group_id, set()).add(bool(s.won))
    if not outcomes:
        return samples, 0.0
    keep = {g for g, o in outcomes.items() if len(o) > 1}
    return [s for s in samples if s.group_id in keep], 1.0 - len(keep) / len(outcomes)


def write_metrics_line(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}) + "\n")
        f.flush()
        os.fsync(f.fileno())
