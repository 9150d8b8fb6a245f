"""One decode step of a Qwen2 model as plain tensor ops over fused weights: the per-token overhead cut.

At the default policies' size a decode step is dominated by per-call overhead, not arithmetic: measured
on the 4-layer benchmark model of tools/bench_vs_trl.py (batch 16, one thread), 29 `linear` calls of
about 70 us each and the modules' Python around them made up most of a 4-5 ms step. `LeanQwen2` runs
the same maths with the query/key/value projections fused into one matmul per layer and gate/up into
another (29 -> 17 linears per step) and no module dispatch, reading and writing the engine's
preallocated cache (`cpu_decode.PreallocatedLayer`) in place of the model's own step.

It mirrors transformers' Qwen2 exactly where rounding could differ: RMSNorm in float32 then cast,
rotary cos/sin computed in float32 and cast to the activations' dtype (transformers' `rotate_half`),
and `cpu_decode`'s own one-query attention (`one_query_attention`: float32 scores, the cache's dtype).
Only plain Qwen2 layers qualify (`LeanQwen2.build` returns None otherwise: LoRA-wrapped projections,
sliding windows, rope scaling, other activations, dropout in train mode, partitioned or offloaded
weights, models past `LEAN_MAX_PARAMS`, where the step is arithmetic-bound and a fused copy would only
cost memory), and the engine builds it afresh for every `generate` call, so an in-process trainer's
updates are always seen.
Checked against the model's own forward in tests/test_cpu_decode.py.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from transformers.models.qwen2.modeling_qwen2 import rotate_half

from agentgym.engines.cpu_decode import one_query_attention

#: Larger models are left to the model's own step: their decode is arithmetic, not overhead.
LEAN_MAX_PARAMS = 100_000_000


class LeanQwen2:
    """Fused weights of one Qwen2 causal LM and its decode step."""

    def __init__(self, model: Any):
        cfg = model.config
        body = model.model
        self.n_heads = cfg.num_attention_heads
        self.n_kv = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.eps = float(cfg.rms_norm_eps)
        self.inv_freq = body.rotary_emb.inv_freq.float()
        self.rope_scale = float(body.rotary_emb.attention_scaling)
        self.layers = []
        for layer in body.layers:
            att, mlp = layer.self_attn, layer.mlp
            with torch.no_grad():
                qkv_w = torch.cat([att.q_proj.weight, att.k_proj.weight, att.v_proj.weight])
                biases = [att.q_proj.bias, att.k_proj.bias, att.v_proj.bias]
                qkv_b = torch.cat(biases) if all(b is not None for b in biases) else None
                gate_up = torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight])
            self.layers.append((layer.input_layernorm.weight, qkv_w, qkv_b, att.o_proj.weight, att.scaling,
                                layer.post_attention_layernorm.weight, gate_up, mlp.down_proj.weight))
        self.embed = body.embed_tokens.weight
        self.norm = body.norm.weight
        self.head = model.lm_head.weight
        self.head_bias = getattr(model.lm_head, "bias", None)

    @staticmethod
    def build(model: Any) -> LeanQwen2 | None:
        """The lean step for `model`, or None where it would not be the model's exact maths."""
        cfg = getattr(model, "config", None)
        body = getattr(model, "model", None)
        if cfg is None or body is None or getattr(cfg, "model_type", None) != "qwen2":
            return None
        rope = getattr(cfg, "rope_parameters", None) or {}
        if rope.get("rope_type", "default") != "default" or getattr(cfg, "use_sliding_window", False):
            return None
        if getattr(cfg, "hidden_act", None) != "silu" or any(t != "full_attention" for t in getattr(cfg, "layer_types", None) or ()):
            return None
        if model.training and float(getattr(cfg, "attention_dropout", 0.0) or 0.0) > 0:
            return None
        params = list(model.parameters())
        if sum(p.numel() for p in params) > LEAN_MAX_PARAMS:
            return None
        if any(p.device.type != "cpu" or p.numel() == 0 or p.is_meta for p in params):  # offloaded, ZeRO-3
            return None
        linear = (torch.nn.Linear,)
        head = getattr(model, "lm_head", None)
        if type(head) not in linear or type(getattr(body, "embed_tokens", None)) is not torch.nn.Embedding:
            return None
        for layer in getattr(body, "layers", ()):
            att, mlp = layer.self_attn, layer.mlp
            mods = (att.q_proj, att.k_proj, att.v_proj, att.o_proj, mlp.gate_proj, mlp.up_proj, mlp.down_proj)
            if any(type(m) not in linear for m in mods):
                return None
            qkv_bias = [m.bias is not None for m in (att.q_proj, att.k_proj, att.v_proj)]
            if any(qkv_bias) != all(qkv_bias) or any(m.bias is not None for m in (att.o_proj, *mods[4:])):
                return None
        return LeanQwen2(model)

    @staticmethod
    def _rms(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
        return w * h.to(x.dtype)

    @staticmethod
    def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        return x * cos + rotate_half(x) * sin

    @torch.inference_mode()
    def step(self, ids: torch.Tensor, positions: torch.Tensor, cache: Any, mask: torch.Tensor) -> torch.Tensor:
        """Logits [b, V] of one new token per row. `ids`, `positions`: [b]; `mask`: [b, L] over the cached
        tokens plus this one (1 = attend); every cache layer a `PreallocatedLayer`."""
        b = ids.shape[0]
        h, kv, d = self.n_heads, self.n_kv, self.head_dim
        x = F.embedding(ids, self.embed)  # [b, H]
        freqs = positions.float()[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = (emb.cos() * self.rope_scale).to(x.dtype)[:, None, :]  # [b, 1, d] against [b, heads, d]
        sin = (emb.sin() * self.rope_scale).to(x.dtype)[:, None, :]
        keep = mask.bool()[:, None, None, :]  # [b, 1, 1, L]
        for (ln1, qkv_w, qkv_b, o_w, scale, ln2, gate_up, down), layer in zip(self.layers, cache.layers, strict=True):
            qkv = F.linear(self._rms(x, ln1, self.eps), qkv_w, qkv_b)
            q = self._rotate(qkv[:, : h * d].view(b, h, d), cos, sin)
            k = self._rotate(qkv[:, h * d: (h + kv) * d].view(b, kv, d), cos, sin)
            v = qkv[:, (h + kv) * d:].view(b, kv, d)
            keys, values = layer.update(k[:, :, None, :], v[:, :, None, :])  # [b, kv, L, d], the cache's dtype
            att = one_query_attention(q.view(b, kv, h // kv, d), keys, values, keep, scale).reshape(b, h * d).to(x.dtype)
            x = x + F.linear(att, o_w)
            gu = F.linear(self._rms(x, ln2, self.eps), gate_up)
            inter = gu.shape[-1] // 2
            x = x + F.linear(F.silu(gu[:, :inter]) * gu[:, inter:], down)
        return F.linear(self._rms(x, self.norm, self.eps), self.head, self.head_bias)
