"""Per-token log-probabilities (and entropies) of response tokens after a prompt.

Every sample is `prompt_ids + response_ids`, right-padded into one batch. The logits at position
`p + j - 1` predict response token `j` of a sample whose prompt has length `p`. The outputs are aligned
[N, T] tensors (T = longest response) with a mask, which is what the backends consume.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext

import torch
from transformers import DynamicCache

from agentgym.engines.base import distinct_prompts
from agentgym.models.load import body_and_head


def pad_responses(responses: Sequence[Sequence[float | int]], dtype=torch.float32, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad ragged per-token lists into ([N, T] values, [N, T] mask)."""
    n, t = len(responses), max((len(r) for r in responses), default=0)
    values = torch.zeros(n, max(t, 1), dtype=dtype, device=device)
    mask = torch.zeros(n, max(t, 1), dtype=torch.float32, device=device)
    for i, r in enumerate(responses):
        if len(r):
            values[i, : len(r)] = torch.as_tensor(list(r), dtype=dtype, device=device)
            mask[i, : len(r)] = 1.0
    return values, mask


def response_logprobs(
    model: torch.nn.Module,
    prompts: Sequence[Sequence[int]],
    responses: Sequence[Sequence[int]],
    *,
    pad_id: int = 0,
    with_entropy: bool = False,
    bf16: bool = False,
    share_prompts: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """(logp [N, T], entropy [N, T] or None, mask [N, T]) of each response token given its prompt.

    Gradients flow when the caller has grad enabled; wrap in `torch.no_grad()` for scoring. With
    `share_prompts`, a prompt that several samples have in common (the G rollouts of a task at turn 0)
    is run once and its keys/values serve all of them (`shared_prompts` decides when that pays). Turn
    it off where every rank must make the same forward calls (ZeRO-3 gathers weights per call).
    """
    device = next(model.parameters()).device
    n = len(prompts)
    lengths = [len(p) + len(r) for p, r in zip(prompts, responses, strict=True)]
    width = max(lengths)
    t_max = max(1, max(len(r) for r in responses))
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    attn = torch.zeros((n, width), dtype=torch.long)
    pos = torch.zeros((n, t_max), dtype=torch.long)  # logit position predicting response token j
    tgt = torch.zeros((n, t_max), dtype=torch.long)
    mask = torch.zeros((n, t_max), dtype=torch.float32)
    for i, (p, r) in enumerate(zip(prompts, responses, strict=True)):
        seq = list(p) + list(r)
        ids[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        attn[i, : len(seq)] = 1
        k = len(r)
        if k:
            pos[i, :k] = torch.arange(len(p) - 1, len(p) - 1 + k)
            tgt[i, :k] = torch.tensor(list(r), dtype=torch.long)
            mask[i, :k] = 1.0
    ids, attn, pos, tgt, mask = (x.to(device) for x in (ids, attn, pos, tgt, mask))
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    body, head = body_and_head(model)
    which = shared_prompts(prompts) if share_prompts and body is not None and not _checkpointed(model) else None
    with autocast:
        shared = _shared_prompt_hidden(body, prompts, responses, which, t_max, pad_id, device) if which else None
        if shared is not None:
            sel = head(shared).float()
        elif body is not None:
            # Right padding under causal attention changes nothing before a sample's end, so no mask is
            # needed (sdpa keeps its fused causal path); the vocabulary-wide head runs only at the
            # response positions: on a small-vocabulary policy that is ~40% of the forward's work.
            hidden = body(input_ids=ids).last_hidden_state
            rows = torch.arange(n, device=device).unsqueeze(-1).expand_as(pos)
            sel = head(hidden[rows, pos]).float()
        else:
            logits = model(input_ids=ids, attention_mask=attn).logits
            sel = logits.gather(1, pos.unsqueeze(-1).expand(-1, -1, logits.size(-1))).float()
    logsm = torch.log_softmax(sel, dim=-1)
    logp = logsm.gather(-1, tgt.unsqueeze(-1)).squeeze(-1) * mask
    entropy = None
    if with_entropy:
        entropy = -(logsm.exp() * logsm).sum(-1) * mask
    return logp, entropy, mask


#: Sharing pays when the distinct prompts hold at most this share of the prompt tokens.
SHARE_BELOW = 0.75


def shared_prompts(prompts: Sequence[Sequence[int]]) -> list[int] | None:
    """For each sample the index of its prompt among the distinct ones (first-seen order), or None when
    the distinct prompts are too many for one shared pass to save work (see `SHARE_BELOW`)."""
    uniq, which = distinct_prompts(prompts)
    total = sum(len(p) for p in prompts)
    return which if len(uniq) < len(prompts) and sum(len(p) for p in uniq) <= SHARE_BELOW * total else None


def _checkpointed(model: torch.nn.Module) -> bool:
    """Activation checkpointing turns the KV cache off in training, which the shared pass needs."""
    on = getattr(model, "is_activation_checkpointing", None)  # transformers 5 (the old name warns)
    if on is None:
        on = getattr(model, "is_gradient_checkpointing", False)
    return bool(on) and model.training


def _shared_prompt_hidden(body, prompts, responses, which: list[int], t_max: int, pad_id: int,
                          device) -> torch.Tensor | None:
    """The last hidden states that predict each response token, [N, t_max, H], computed with each distinct
    prompt run once: a left-padded pass over the distinct prompts fills a KV cache (with gradient), its
    rows are repeated per sample, and one right-padded pass over the responses (all but their last token)
    attends to it. The same function of the weights as the plain per-sample forward, up to float rounding
    (tests/test_scoring.py checks values and gradients)."""
    uniq: list[Sequence[int]] = [None] * (max(which) + 1)  # type: ignore[list-item]
    for p, w in zip(prompts, which, strict=True):
        uniq[w] = p
    lp = max(len(p) for p in uniq)
    p_ids = torch.full((len(uniq), lp), pad_id, dtype=torch.long)
    p_mask = torch.zeros((len(uniq), lp), dtype=torch.long)
    for i, p in enumerate(uniq):
        p_ids[i, lp - len(p):] = torch.tensor(list(p), dtype=torch.long)
        p_mask[i, lp - len(p):] = 1
    p_ids, p_mask = p_ids.to(device), p_mask.to(device)
    cache = DynamicCache(config=getattr(body, "config", None))
    h_prompt = body(input_ids=p_ids, attention_mask=p_mask, position_ids=(p_mask.cumsum(-1) - 1).clamp(min=0),
                    cache=cache, use_cache=True).last_hidden_state[:, -1]  # predicts response token 0
    if cache.get_seq_length() != lp:
        return None  # a decoder that ignored the cache: the caller takes the plain path
    rows = torch.tensor(which, dtype=torch.long, device=device)
    first = h_prompt[rows].unsqueeze(1)
    if t_max == 1:
        return first
    cache.batch_select_indices(rows)
    n = len(responses)
    r_ids = torch.full((n, t_max - 1), pad_id, dtype=torch.long)
    r_mask = torch.zeros((n, t_max - 1), dtype=torch.long)
    for i, r in enumerate(responses):
        k = max(0, len(r) - 1)
        if k:
            r_ids[i, :k] = torch.tensor(list(r[:k]), dtype=torch.long)
            r_mask[i, :k] = 1
    r_ids, r_mask = r_ids.to(device), r_mask.to(device)
    p_len = torch.tensor([len(p) for p in prompts], dtype=torch.long, device=device)
    pos = p_len.unsqueeze(1) + torch.arange(t_max - 1, device=device).unsqueeze(0)
    attn = torch.cat([p_mask[rows], r_mask], dim=1)
    rest = body(input_ids=r_ids, attention_mask=attn, position_ids=pos, cache=cache, use_cache=True).last_hidden_state
    return torch.cat([first, rest], dim=1)
