"""Per-token log-probabilities (and entropies) of response tokens after a prompt.

Every sample is `prompt_ids + response_ids`, right-padded into one batch. The logits at position
`p + j - 1` predict response token `j` of a sample whose prompt has length `p`. The outputs are aligned
[N, T] tensors (T = longest response) with a mask, which is what the backends consume.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext

import torch

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
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """(logp [N, T], entropy [N, T] or None, mask [N, T]) of each response token given its prompt.

    Gradients flow when the caller has grad enabled; wrap in `torch.no_grad()` for scoring.
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
    with autocast:
        if body is not None:
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
