"""In-process generation with a transformers model: the default engine on CPU.

Our own incremental decode loop (rather than `model.generate`) because the trainer needs exactly the
raw log-probability of every sampled token, and because it is faster here: one prompt pass over the
left-padded batch fills a KV cache, then one forward per new token for the rows still running. Rows
that finished (a stop string, EOS, or the length cap) leave the batch: their cache rows are dropped, so
late steps cost what the live rows cost.

Exactness: position ids are counted over real tokens only (left padding does not shift them), so a
row's logits do not depend on what else is in its batch (tested: batched greedy == one-by-one greedy,
and the returned logprobs equal a separate forward pass over prompt + response).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, DynamicCache
from transformers.cache_utils import DynamicLayer

from agentgym.engines import cpu_decode
from agentgym.engines.base import Engine, Generation, SamplingParams, distinct_prompts
from agentgym.engines.cpu_decode import preallocate
from agentgym.engines.lean_decode import LeanQwen2
from agentgym.engines.load import load_policy, load_tokenizer, stop_token_ids, torch_dtype


class HFEngine(Engine):
    """`HFEngine(path_or_model, tokenizer=None, dtype="float32")`.

    Given a path, the model is loaded (`load_policy`). Given an `nn.Module` of the requested dtype, that
    very object is used (not copied): an in-process trainer that optimises it needs no weight sync at
    all; of another dtype (e.g. `dtype="bfloat16"` for a float32 trainer model, about 1.6x faster prompt
    passes here) a converted copy is used and `update_weights(module)` syncs it. `max_batch`
    caps the rows decoded together (longer prompt lists are processed in chunks). `fast_decode` (on CPU)
    switches the model to `cpu_decode`'s one-query attention and gives the KV cache preallocated room.
    """

    name = "hf"

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        dtype: Any = "float32",
        max_batch: int = 256,
        prefill_tokens: int = 8192,
        seed: int | None = None,
        fast_decode: bool = True,
        lean_decode: bool = True,
    ):
        if isinstance(model, (str, Path)):
            model, tok = load_policy(model, dtype=dtype)
            tokenizer = tokenizer or tok
        else:
            if tokenizer is None:
                src = getattr(model, "name_or_path", None)
                if not src:
                    raise ValueError("HFEngine(model=nn.Module) needs tokenizer=")
                tokenizer = load_tokenizer(src)
            want = torch_dtype(dtype) if dtype is not None else None
            if want is not None and next(model.parameters()).dtype != want:
                model = copy.deepcopy(model).to(want).eval()  # a converted copy: the caller's module keeps its dtype
        self.model = model

        self.fast_decode = fast_decode and cpu_decode.use_decode_attention(model)
        #: decode steps of plain Qwen2 models through `lean_decode` (with fast_decode; False: the model's own)
        self.lean_decode = lean_decode
        self._lean_step: LeanQwen2 | None = None
        self.tokenizer = tokenizer
        self.max_batch = int(max_batch)
        self.prefill_tokens = int(prefill_tokens)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.eos_ids = stop_token_ids(tokenizer, model)
        self._gen = torch.Generator().manual_seed(seed if seed is not None else int(torch.randint(0, 2**62, (1,))))
        self._stop_cache: dict[tuple[str, ...], tuple[set[int], Any]] = {}
        self._tok_text: list[str] | None = None
        #: cumulative seconds in prompt passes and in decode steps, and prompt tokens encoded (for benchmarks)
        self.timings = {"prefill_s": 0.0, "decode_s": 0.0, "prompt_tokens": 0}

    # ---- stop strings --------------------------------------------------------------------------
    def _token_texts(self) -> list[str]:
        if self._tok_text is None:
            n = len(self.tokenizer)
            self._tok_text = self.tokenizer.batch_decode([[i] for i in range(n)], skip_special_tokens=False)
        return self._tok_text

    def _stop_plan(self, stop: tuple[str, ...]):
        """(single-token stop ids, per-token flag "this token may complete a stop string")."""
        if stop in self._stop_cache:
            return self._stop_cache[stop]

        single: set[int] = set()
        for s in stop:
            ids = self.tokenizer(s, add_special_tokens=False)["input_ids"]
            if len(ids) == 1:
                single.add(int(ids[0]))
        texts = self._token_texts()
        lasts = {s[-1] for s in stop if s}
        may_end = torch.zeros(max(len(texts), self.model.get_input_embeddings().weight.shape[0]), dtype=torch.bool)
        for i, t in enumerate(texts):
            if any(c in t for c in lasts) or "\ufffd" in t:
                may_end[i] = True
        self._stop_cache[stop] = (single, may_end)
        return single, may_end

    # ---- generation ----------------------------------------------------------------------------
    def _lean(self) -> LeanQwen2 | None:
        """The lean decode step over the current weights, built afresh for every `generate` call: weights
        may change in ways no version counter sees (`p.data.copy_`), and the fusing copy costs about
        a millisecond at the sizes it is for (`LeanQwen2.build` refuses models past `LEAN_MAX_PARAMS`)."""
        self._lean_step = None  # the previous fused copy goes before the new one is made
        if self.lean_decode:
            self._lean_step = LeanQwen2.build(self.model)
        return self._lean_step

    def generate(self, prompt_ids: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        out: list[Generation] = []
        if sampling.seed is not None:
            self._gen.manual_seed(int(sampling.seed))
        for i in range(0, len(prompt_ids), self.max_batch):
            out.extend(self._generate_batch(prompt_ids[i: i + self.max_batch], sampling))
        return out

    def _generate_batch(self, prompts: list[list[int]], sp: SamplingParams) -> list[Generation]:
        if not prompts:
            return []
        if any(len(p) == 0 for p in prompts):
            raise ValueError("empty prompt")
        dev = next(self.model.parameters()).device
        B = len(prompts)
        single_stop, may_end = self._stop_plan(sp.stop)
        stops = [s for s in sp.stop if s]
        window = max((len(s) for s in stops), default=0) + 2
        eos = torch.tensor(sorted(self.eos_ids), dtype=torch.long) if self.eos_ids else None

        with torch.inference_mode():
            t0 = time.perf_counter()
            logits, cache, mask, rows = self._prefill_unique(prompts, dev)
            t1 = time.perf_counter()
            self.timings["prefill_s"] += t1 - t0
            lean = None
            if self.fast_decode and preallocate(cache, sp.max_new_tokens):
                lean = self._lean()
            next_pos = mask.sum(-1)  # real tokens so far = the next position id
            toks: list[list[int]] = [[] for _ in range(B)]
            lps: list[list[float]] = [[] for _ in range(B)]
            reason = ["length"] * B
            vocab = logits.shape[-1]
            banned = sorted(t for t in set(self.eos_ids) | set(single_stop) if 0 <= t < vocab)
            for step in range(sp.max_new_tokens):
                logits = logits.float()
                logp = torch.log_softmax(logits, dim=-1)
                early = step < sp.min_new_tokens  # EOS and single-token stops may not be sampled yet
                pick = logits.index_fill(-1, torch.tensor(banned, device=dev), float("-inf")) if early and banned else logits
                if sp.greedy:
                    nxt = pick.argmax(-1)
                else:
                    nxt = self._sample(pick, sp)
                chosen = logp.gather(-1, nxt[:, None])[:, 0]  # the model's own log-prob, whatever was masked
                nxt_l, chosen_l, rows_l = nxt.tolist(), chosen.tolist(), rows.tolist()
                done = []
                may = may_end[nxt].tolist() if stops and not early else [False] * len(nxt_l)
                is_eos = torch.isin(nxt, eos).tolist() if eos is not None and not early else [False] * len(nxt_l)
                for j, (r, t, lp) in enumerate(zip(rows_l, nxt_l, chosen_l, strict=True)):
                    toks[r].append(t)
                    lps[r].append(lp)
                    if early:  # no stop checks before min_new_tokens
                        continue
                    if is_eos[j]:
                        reason[r] = "eos"
                        done.append(j)
                    elif t in single_stop:
                        reason[r] = "stop"
                        done.append(j)
                    elif may[j]:
                        tail = self.tokenizer.decode(toks[r][-window:], skip_special_tokens=False)
                        if any(s in tail for s in stops):
                            reason[r] = "stop"
                            done.append(j)
                if len(done) == len(rows_l) or step == sp.max_new_tokens - 1:
                    break
                if done:
                    gone = set(done)
                    keep = torch.tensor([j for j in range(len(rows_l)) if j not in gone], dtype=torch.long)
                    cache.batch_select_indices(keep.to(dev))
                    rows, nxt, mask, next_pos = rows[keep], nxt[keep], mask[keep], next_pos[keep]
                mask = torch.cat([mask, torch.ones((mask.shape[0], 1), dtype=mask.dtype, device=dev)], dim=1)
                if lean is not None:
                    logits = lean.step(nxt.to(dev), next_pos, cache, mask)
                else:
                    logits = self.model(input_ids=nxt[:, None].to(dev), attention_mask=mask,
                                        position_ids=next_pos[:, None], cache=cache, use_cache=True).logits[:, -1, :]
                next_pos = next_pos + 1
            self.timings["decode_s"] += time.perf_counter() - t1
        return [
            Generation(toks[r], lps[r], self.tokenizer.decode(toks[r], skip_special_tokens=True), reason[r])
            for r in range(B)
        ]

    def _prefill_unique(self, prompts: list[list[int]], dev):
        """Identical prompts (the G rollouts of a task at turn 0) are encoded once; their cache rows are
        then repeated, one per row, before sampling diverges."""
        uniq, which = distinct_prompts(prompts)
        self.timings["prompt_tokens"] += sum(len(p) for p in uniq)
        logits, cache, mask, order = self._prefill(uniq, dev)
        if len(uniq) == len(prompts):
            return logits, cache, mask, order
        pos_of = {int(u): i for i, u in enumerate(order.tolist())}  # unique id -> its row in the cache
        rows = sorted(range(len(prompts)), key=lambda r: pos_of[which[r]])
        sel = torch.tensor([pos_of[which[r]] for r in rows], dtype=torch.long, device=dev)
        cache.batch_select_indices(sel)
        return logits[sel], cache, mask[sel], torch.tensor(rows)

    def _prefill(self, prompts: list[list[int]], dev):
        """Prompt pass in length buckets: rows sorted by length, chunks of at most `prefill_tokens` padded
        tokens, each left-padded only to its own longest prompt; the caches are then left-padded (masked
        zeros) to one length for the shared decode loop. Returns (last logits, cache, mask, row order)."""
        order = sorted(range(len(prompts)), key=lambda r: len(prompts[r]))
        chunks: list[list[int]] = [[]]
        for r in order:  # ascending lengths: the newest row is its chunk's longest
            if chunks[-1] and (len(chunks[-1]) + 1) * len(prompts[r]) > self.prefill_tokens:
                chunks.append([])
            chunks[-1].append(r)
        L = len(prompts[order[-1]])
        logits, masks, keys, values = [], [], None, None
        for chunk in chunks:
            Lc = len(prompts[chunk[-1]])
            ids = torch.full((len(chunk), Lc), self.pad_id, dtype=torch.long)
            m = torch.zeros((len(chunk), Lc), dtype=torch.long)
            for i, r in enumerate(chunk):
                ids[i, Lc - len(prompts[r]):] = torch.tensor(prompts[r], dtype=torch.long)
                m[i, Lc - len(prompts[r]):] = 1
            pos = (m.cumsum(-1) - 1).clamp(min=0)
            c = DynamicCache()
            out = self.model(input_ids=ids.to(dev), attention_mask=m.to(dev), position_ids=pos.to(dev), cache=c,
                             use_cache=True, logits_to_keep=1)
            logits.append(out.logits[:, -1, :])
            if len(chunks) == 1:
                return logits[0], c, m.to(dev), torch.tensor(chunk)
            if not all(type(layer) is DynamicLayer for layer in c.layers):
                raise RuntimeError("bucketed prefill needs plain dynamic cache layers")
            masks.append(F.pad(m, (L - Lc, 0)).to(dev))
            ks = [F.pad(layer.keys, (0, 0, L - Lc, 0)) for layer in c.layers]
            vs = [F.pad(layer.values, (0, 0, L - Lc, 0)) for layer in c.layers]
            keys = [ks] if keys is None else [*keys, ks]
            values = [vs] if values is None else [*values, vs]
        assert keys is not None and values is not None
        n_layers = len(keys[0])
        merged = [(torch.cat([k[i] for k in keys]), torch.cat([v[i] for v in values])) for i in range(n_layers)]
        cache = DynamicCache(ddp_cache_data=merged)
        return torch.cat(logits), cache, torch.cat(masks), torch.tensor([r for ch in chunks for r in ch])

    def _sample(self, logits, sp: SamplingParams):
        probs = torch.softmax(logits / sp.temperature, dim=-1)
        if sp.top_p < 1.0:
            sorted_p, idx = probs.sort(dim=-1, descending=True)
            cum = sorted_p.cumsum(-1)
            drop = (cum - sorted_p) >= sp.top_p  # keep the smallest prefix whose mass reaches top_p
            sorted_p = sorted_p.masked_fill(drop, 0.0)
            probs = torch.zeros_like(probs).scatter_(-1, idx, sorted_p)
        return sample_rows(probs, self._gen)

    # ---- weights -------------------------------------------------------------------------------
    def update_weights(self, weights: Any) -> None:
        """An `nn.Module` (no-op when it is the engine's own model), a state dict, or a model directory."""
        if isinstance(weights, torch.nn.Module):
            if weights is self.model:
                return
            weights = weights.state_dict()
        elif isinstance(weights, (str, Path)):
            weights = AutoModelForCausalLM.from_pretrained(str(weights), dtype=torch.float32).state_dict()
        with torch.no_grad():
            missing, unexpected = self.model.load_state_dict(dict(weights), strict=False)
        real_missing = [k for k in missing if not k.endswith("lm_head.weight")]  # tied embeddings
        if real_missing or unexpected:
            raise ValueError(f"weights do not fit the model: missing {real_missing[:5]}, unexpected {unexpected[:5]}")

    def close(self) -> None:
        pass


def sample_rows(probs, generator):
    """One draw per row of `probs` (unnormalised weights) by inverting its CDF: one uniform per row, a
    float64 cumulative sum and a binary search. `torch.multinomial` draws an exponential per vocabulary
    entry instead, 12x slower at a 2k vocabulary and 4x at 152k on one CPU thread; the distribution is the
    same, the random stream is not. A zero-weight token is never drawn (its CDF step is empty); a row
    without finite positive weight (NaN logits) is an error, as it was for `torch.multinomial`."""
    cdf = probs.double().cumsum(-1)
    total = cdf[:, -1]
    if not bool(torch.all(torch.isfinite(total) & (total > 0))):
        raise ValueError("cannot sample: a row of the distribution is NaN, infinite or all zero (non-finite logits?)")
    u = torch.rand(probs.shape[0], 1, generator=generator, dtype=torch.float64, device=probs.device) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True)[:, 0].clamp_(max=probs.shape[-1] - 1)
