"""LoRA adapters (through peft) and activation checkpointing for the policy being trained.

peft is an optional extra (`pip install 'agentgym[lora]'`), so it is imported only when LoRA is asked
for. The adapters are injected into the loaded transformers model in place: the trainer's forward, the
teacher pass and the in-process engine all keep using that one module, i.e. base + adapter. Whatever
leaves the process as weights (a saved policy, an SGLang sync, the ZeRO-3 generation copy) is
`merged_state_dict`: W + scaling * B @ A under the base model's own parameter names, a plain Hugging
Face state dict that loads without peft.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch

from agentgym.core.errors import AgentGymError

#: peft's shorthand for every linear layer except the output head
ALL_LINEAR = "all-linear"


@dataclass(frozen=True)
class LoraSettings:
    """What the trainer's `lora_*` options ask for (rank 0: no LoRA)."""

    rank: int
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: str = ALL_LINEAR


def parse_targets(text: str) -> str | list[str]:
    """`lora_target_modules` as peft takes it: "all-linear", or the comma-separated module names."""
    if text.strip().lower() == ALL_LINEAR:
        return ALL_LINEAR
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise AgentGymError(f"lora_target_modules must be {ALL_LINEAR!r} or comma-separated module names, got {text!r}")
    return names


def _peft() -> Any:
    """The peft package, or one line saying how to install it (it is optional and heavy)."""
    try:
        import peft
    except ImportError:
        raise AgentGymError("lora_rank > 0 needs peft, which is not installed: pip install 'agentgym[lora]'") from None
    return peft


def enable_gradient_checkpointing(model: Any) -> None:
    """Recompute each decoder layer's activations in the backward pass instead of keeping them.

    Non-reentrant checkpointing: it needs no input that requires grad (LoRA freezes the embeddings) and
    replays dropout with the saved RNG state, so gradients equal those without checkpointing. It acts
    in train mode with grad enabled only, so scoring and generation are unchanged."""
    if not getattr(model, "supports_gradient_checkpointing", False):
        raise AgentGymError(f"gradient_checkpointing: {type(model).__name__} does not support activation "
                            "checkpointing; set gradient_checkpointing=false")
    kwargs = {"use_reentrant": False}
    try:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x; the old name is deprecated
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    except ValueError as e:  # an architecture whose layers carry no checkpointing flag
        raise AgentGymError(f"gradient_checkpointing: {str(e).splitlines()[0]}; set gradient_checkpointing=false") from None


def add_lora(model: torch.nn.Module, settings: LoraSettings, seed: int = 0) -> None:
    """Inject LoRA adapters into `model` in place; afterwards only the adapters require grad.

    The adapters' random initialisation (A; B starts at zero) is drawn from `seed`, not from whatever
    the global RNG holds, so two runs of one config start from the same adapter; the global RNG is left
    as it was. Only linear layers are accepted (their merge is a plain weight update), and not a head
    tied to the input embeddings (the merged head would be saved as the embedding it is tied to)."""
    peft = _peft()
    from peft.tuners.lora import LoraLayer

    targets = parse_targets(settings.target_modules)
    config = peft.LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                             target_modules=targets, bias="none")
    try:
        # peft builds the adapters on the CPU and then moves them to their layer's device: the CPU RNG
        with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            torch.manual_seed(seed)
            peft.get_peft_model(model, config)
    except (ValueError, TypeError, KeyError) as e:  # no module matched, a layer type peft cannot wrap
        raise AgentGymError(f"lora_target_modules {settings.target_modules!r}: {str(e).splitlines()[0][:300]}") from None
    tied = bool(getattr(model.config, "tie_word_embeddings", False))
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    for name, module in model.named_modules():
        if not isinstance(module, LoraLayer):
            continue
        base = module.get_base_layer()
        if not _is_linear(base):
            raise AgentGymError(f"lora_target_modules: {name} ({type(base).__name__}) is not a linear layer; LoRA "
                                "here supports linear layers only (e.g. all-linear, or q_proj,v_proj)")
        if tied and module is head:
            raise AgentGymError(f"lora_target_modules: {name} is the output head, tied to the input embeddings; "
                                "leave it out")


def _is_linear(layer: torch.nn.Module) -> bool:
    """nn.Linear, or transformers' Conv1D (GPT-2 style: a linear layer with the weight transposed)."""
    return isinstance(layer, torch.nn.Linear) or type(layer).__name__ == "Conv1D"


def has_lora(model: torch.nn.Module) -> bool:
    return any(_is_lora_name(n) for n, _ in model.named_parameters())


def _is_lora_name(key: str) -> bool:
    """A parameter of an adapter (lora_A, lora_B, ...) rather than of the model."""
    return any(part.startswith("lora_") for part in key.split("."))


def adapter_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The adapter weights (the trained parameters) as CPU tensors, under the module's own names."""
    return {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if _is_lora_name(n)}


def adapter_names(model: torch.nn.Module) -> set[str]:
    return {n for n, _ in model.named_parameters() if _is_lora_name(n)}


@torch.no_grad()
def merged_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The full weights with every active adapter merged in, as CPU tensors under the base model's
    parameter names (`...q_proj.base_layer.weight` -> `...q_proj.weight`, no `lora_*` keys).

    Computed beside the model: its own weights are never touched (merging in place and back would
    round the base weights differently at every sync and break bit-identical resumes). Under ZeRO-3
    call it inside the learner's `gathered()` context."""
    from peft.tuners.lora import LoraLayer

    out: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        if not _is_lora_name(key):
            out[key.replace(".base_layer.", ".")] = value.detach().to("cpu", copy=True)
    for name, module in model.named_modules():
        if not isinstance(module, LoraLayer) or module.disable_adapters or module.merged:
            continue
        key = f"{name}.weight"
        for adapter in module.active_adapters:
            if adapter in module.lora_A:
                out[key] = out[key] + module.get_delta_weight(adapter).to("cpu", out[key].dtype)
    return out
