"""Export a reference model to a card + safetensors, and seeded random initialization."""

import os

import numpy as np
import torch

from . import card as cardmod
from . import reference as R
from . import safetensors_io

DTYPES = {"f32": "F32", "f16": "F16", "bf16": "BF16"}


def export_model(model, card_path, dtype="f32", name=None, training=None, metadata=None):
    """Write `card_path` (YAML) and its weights (same stem, .safetensors) from a WorldModel.

    The safetensors keys are exactly model.state_dict() keys.  Returns the weights path."""
    if dtype not in DTYPES:
        raise ValueError("dtype must be one of %s" % sorted(DTYPES))
    card = {k: v for k, v in model.card.items() if not k.startswith("_")}
    stem = os.path.splitext(os.path.basename(card_path))[0]
    card["weights"] = stem + ".safetensors"
    if name is not None:
        card["name"] = name
    if training is not None:
        card["training"] = training
    card = cardmod.validate_card(card)
    d = os.path.dirname(os.path.abspath(card_path))
    os.makedirs(d, exist_ok=True)
    tensors = R.state_dict_numpy(model)
    st = DTYPES[dtype]
    meta = {"format": "pt", "arvideo_card": os.path.basename(card_path)}
    meta.update(metadata or {})
    wpath = os.path.join(d, card["weights"])
    safetensors_io.save(wpath, tensors, metadata=meta, dtypes={k: st for k in tensors})
    cardmod.save_card(card, card_path)
    return wpath


def _smooth_frames(n, h, w, c, gen):
    """Smooth-ish synthetic uint8 frames (low-frequency sinusoids), seeded by gen."""
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    out = torch.zeros(n, h, w, c, dtype=torch.float64)
    for i in range(n):
        for ch in range(c):
            p = torch.rand(6, generator=gen, dtype=torch.float64)
            v = (torch.sin(2 * np.pi * (p[0] * 2 * xx / w + p[1]))
                 * torch.cos(2 * np.pi * (p[2] * 2 * yy / h + p[3])) * (0.5 + 0.5 * p[4])
                 + (p[5] - 0.5))
            out[i, :, :, ch] = v
    return torch.floor((out.clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8)


@torch.no_grad()
def random_init(model, seed=0):
    """Seeded random weights that give well-spread outputs (so fixtures are not tie-prone):
    torch default init, norm affines perturbed around (1, 0), llama sep_emb random, codebook set
    to encoder latents of synthetic frames plus noise, decoder conv_out rescaled to ~[-1, 1],
    predictor head scaled up 4x."""
    gen = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        # re-draw every tensor from the seeded generator, shaped like torch's default init
        if p.dim() >= 2 and "emb" not in name and "codebook" not in name:
            fan_in = int(np.prod(p.shape[1:]))
            bound = 1.0 / np.sqrt(fan_in)
            p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound * np.sqrt(3.0))
        elif p.dim() >= 2:   # embeddings and codebook
            p.copy_(torch.randn(p.shape, generator=gen))
        elif name.endswith("sep_emb"):
            p.copy_(torch.randn(p.shape, generator=gen))
        elif name.endswith(".weight"):   # norm scales
            p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
        else:                            # biases (linear, conv, norm)
            p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    tok = model.tokenizer
    if tok is not None:
        h, w = tok.cfg["resolution"]
        frames = _smooth_frames(16, h, w, tok.cfg["in_channels"], gen)
        z, _ = tok.encode(frames)
        flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        k = tok.codebook.weight.shape[0]
        idx = torch.randperm(flat.shape[0], generator=gen)[:k]
        if idx.numel() < k:
            idx = torch.randint(0, flat.shape[0], (k,), generator=gen)
        noise = torch.randn(k, z.shape[1], generator=gen) * flat.std() * 0.3
        tok.codebook.weight.copy_(flat[idx] + noise)
        _, t = tok.encode(frames)
        y = tok.decode(t)
        s = float(y.std())
        if s > 0:
            tok.decoder.conv_out.weight.mul_(0.4 / s)
            tok.decoder.conv_out.bias.mul_(0.4 / s)
    pred = model.predictor
    if pred is not None:
        # sharper logits (std ~4 instead of ~1): greedy decisions far from ties
        last = pred.head.fc2 if hasattr(pred.head, "fc2") else pred.head
        for p in last.parameters():
            p.mul_(4.0)
    return model


def make_random(card, card_path, seed=0, dtype="f32", training=None):
    """Build a model from a card (dict or path), seed-initialize it, export it. Returns the model
    (with the weights as stored, i.e. rounded to dtype)."""
    if isinstance(card, str):
        card = cardmod.load_card(card)
    model = R.build_model(card)
    random_init(model, seed)
    tr = {"source": "random", "seed": seed}
    if training:
        tr.update(training)
    wpath = export_model(model, card_path, dtype=dtype, training=tr)
    R.load_weights(model, wpath)   # round-trip so the model equals what was stored
    return model
