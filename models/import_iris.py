#!/usr/bin/python3
"""Convert an IRIS checkpoint (github.com/eloialonso/iris) into an arvideo card + safetensors.

  /usr/bin/python3 models/import_iris.py agent.pt out/iris-breakout.yaml [--name NAME]
        [--resolution 64] [--heads 4] [--norm-groups 32] [--dtype f32|f16]

Input: a torch .pt holding an IRIS Agent state_dict (keys `tokenizer.*`, `world_model.*`,
`actor_critic.*`), as IRIS's trainer saves `checkpoints/last.pt`; a `{"state_dict": ...}`
wrapper is accepted too.

Mapping (IRIS key -> arvideo tensor name):
  tokenizer.encoder.* / decoder.* / pre_quant_conv.* / post_quant_conv.*   -> same names
  tokenizer.embedding.weight                                               -> tokenizer.codebook.weight
  world_model.embedder.embedding_tables.0.weight (actions)                 -> predictor.act_emb.weight
  world_model.embedder.embedding_tables.1.weight (observation tokens)      -> predictor.tok_emb.weight
  world_model.pos_emb.weight                                               -> predictor.pos_emb.weight
  world_model.transformer.blocks.{i}.ln1 / ln2                             -> predictor.blocks.{i}.ln1 / ln2
  world_model.transformer.blocks.{i}.attn.{query,key,value}                -> predictor.blocks.{i}.attn.qkv (cat q,k,v)
  world_model.transformer.blocks.{i}.attn.proj                             -> predictor.blocks.{i}.attn.proj
  world_model.transformer.blocks.{i}.mlp.0 / mlp.2                         -> predictor.blocks.{i}.mlp.fc1 / fc2
  world_model.transformer.ln_f                                             -> predictor.ln_f
  world_model.head_observations.head_module.0 / .2                         -> predictor.head.fc1 / fc2
Skipped: tokenizer.lpips.* (training loss only), world_model.head_rewards.*, world_model.head_ends.*
(reward / episode-end heads: not part of an arvideo predictor), attention mask and slicer index
buffers (recomputed), actor_critic.* (the policy).

Architecture facts taken from IRIS's source (see models/README.md, "IRIS import"):
  frames in [0, 1] -> x*2-1 (== ours u8/127.5-1 up to float rounding); tokenizer GroupNorm(32, eps 1e-6);
  GPT: pre-norm blocks, LayerNorm default eps 1e-5, nn.GELU() (erf), causal attention with scale
  1/sqrt(head_dim), learned pos_emb indexed by the absolute position in the window, 16 observation
  tokens then 1 action token per block, ln_f, head_observations = Linear(d,d)-ReLU-Linear(d,vocab).
Head count is not stored in the checkpoint: --heads (IRIS default config: 4).
"""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from arvideo import card as cardmod  # noqa: E402
from arvideo import export  # noqa: E402
from arvideo import reference as R  # noqa: E402

SKIPPED_NOTES = [
    "converted from an IRIS (eloialonso/iris) checkpoint by models/import_iris.py",
    "skipped: tokenizer.lpips.* (perceptual loss network, training only)",
    "skipped: world_model.head_rewards.* and world_model.head_ends.* (reward and episode-end heads)",
    "skipped: actor_critic.* (policy), attention-mask and slicer-index buffers",
    "IRIS feeds frames as float [0,1] then x*2-1; arvideo uses u8/127.5-1 (same value up to rounding)",
    "IRIS renders frames as clamp((y+1)/2, 0, 1)*255 truncated to uint8; arvideo rounds (+0.5, floor)",
    "IRIS rolls out with a window of max_blocks; when full it restarts from the last frame only",
]


def _load_checkpoint(path):
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:   # very old torch without weights_only
        sd = torch.load(path, map_location="cpu")
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise ValueError("%s: not a state_dict" % path)
    return sd


def _count(sd, prefix):
    """Number of consecutive integer children {prefix}{i}. present in sd."""
    n = 0
    while any(k.startswith("%s%d." % (prefix, n)) for k in sd):
        n += 1
    return n


def infer_card(sd, resolution=64, heads=4, norm_groups=32, name="iris"):
    """Derive an arvideo card from the shapes of an IRIS agent state_dict."""
    t = "tokenizer."
    w = sd[t + "encoder.conv_in.weight"]
    in_ch, ch = int(w.shape[1]), int(w.shape[0])
    levels = _count(sd, t + "encoder.down.")
    mult = [int(sd[t + "encoder.down.%d.block.0.conv1.weight" % i].shape[0]) // ch for i in range(levels)]
    nrb = _count(sd, t + "encoder.down.0.block.")
    enc_attn = [resolution >> i for i in range(levels) if (t + "encoder.down.%d.attn.0.q.weight" % i) in sd]
    z = int(sd[t + "encoder.conv_out.weight"].shape[0])
    dch = [int(sd[t + "decoder.up.%d.block.0.conv1.weight" % i].shape[0]) for i in range(levels)]
    dec_ch = ch if all(c % ch == 0 for c in dch) else dch[0]
    dec_nrb = _count(sd, t + "decoder.up.0.block.") - 1
    dec_attn = [resolution >> i for i in range(levels) if (t + "decoder.up.%d.attn.0.q.weight" % i) in sd]
    dz = int(sd[t + "decoder.conv_in.weight"].shape[1])
    emb = sd[t + "embedding.weight"]
    tok = {
        "kind": "vq", "resolution": [resolution, resolution], "in_channels": in_ch,
        "encoder": {"channels": ch, "channel_mult": mult, "res_blocks": nrb, "attn_resolutions": enc_attn, "z_channels": z},
        "decoder": {"channels": dec_ch, "channel_mult": [c // dec_ch for c in dch], "res_blocks": dec_nrb,
                    "attn_resolutions": dec_attn, "z_channels": dz},
        "codebook": {"size": int(emb.shape[0]), "dim": int(emb.shape[1])},
        "norm_groups": norm_groups,
    }
    grid = resolution >> (levels - 1)
    tpf = grid * grid
    wm = "world_model."
    pos = sd[wm + "pos_emb.weight"]
    max_tokens, dim = int(pos.shape[0]), int(pos.shape[1])
    if max_tokens % (tpf + 1):
        raise ValueError("pos_emb has %d rows, not a multiple of tokens_per_block %d" % (max_tokens, tpf + 1))
    nl = _count(sd, wm + "transformer.blocks.")
    mask = sd.get(wm + "transformer.blocks.0.attn.mask")
    if mask is not None and not torch.equal(mask, torch.tril(torch.ones_like(mask))):
        raise ValueError("this IRIS world model uses block_causal attention; only 'causal' is supported")
    pred = {
        "kind": "gpt", "layers": nl, "dim": dim, "heads": heads,
        "context_frames": max_tokens // (tpf + 1), "tokens_per_frame": tpf,
        "vocab": int(sd[wm + "embedder.embedding_tables.1.weight"].shape[0]),
        "action": {"kind": "discrete", "count": int(sd[wm + "embedder.embedding_tables.0.weight"].shape[0])},
        "mlp_hidden": int(sd[wm + "transformer.blocks.0.mlp.0.weight"].shape[0]),
        "head_hidden": int(sd[wm + "head_observations.head_module.0.weight"].shape[0]),
        "gelu": "erf", "norm_eps": 1e-5,
    }
    return {"format": 1, "name": name, "weights": name + ".safetensors", "tokenizer": tok, "predictor": pred,
            "training": {"source": "iris", "notes": list(SKIPPED_NOTES)}}


_SKIP = [
    re.compile(r"^tokenizer\.lpips\."),
    re.compile(r"^world_model\.head_(rewards|ends)\."),
    re.compile(r"^world_model\..*\.(indices|mask)$"),
    re.compile(r"^actor_critic\."),
]


def convert_state_dict(sd):
    """IRIS agent state_dict -> (arvideo tensors dict name -> torch tensor, list of skipped keys)."""
    out, skipped, used = {}, [], set()
    blk = re.compile(r"^world_model\.transformer\.blocks\.(\d+)\.(.*)$")
    for k, v in sd.items():
        if any(p.search(k) for p in _SKIP):
            skipped.append(k)
            continue
        if k.startswith("tokenizer."):
            name = "tokenizer.codebook.weight" if k == "tokenizer.embedding.weight" else k
            out[name] = v
            used.add(k)
            continue
        m = blk.match(k)
        if m:
            i, rest = m.group(1), m.group(2)
            base = "predictor.blocks.%s." % i
            am = re.match(r"^attn\.(query|key|value)\.(weight|bias)$", rest)
            if am:
                kind = am.group(2)
                if base + "attn.qkv." + kind not in out:
                    pre = "world_model.transformer.blocks.%s.attn." % i
                    out[base + "attn.qkv." + kind] = torch.cat(
                        [sd[pre + "query." + kind], sd[pre + "key." + kind], sd[pre + "value." + kind]], dim=0)
                used.add(k)
                continue
            rest = re.sub(r"^mlp\.0\.", "mlp.fc1.", rest)
            rest = re.sub(r"^mlp\.2\.", "mlp.fc2.", rest)
            out[base + rest] = v
            used.add(k)
            continue
        simple = {
            "world_model.transformer.ln_f.weight": "predictor.ln_f.weight",
            "world_model.transformer.ln_f.bias": "predictor.ln_f.bias",
            "world_model.pos_emb.weight": "predictor.pos_emb.weight",
            "world_model.embedder.embedding_tables.0.weight": "predictor.act_emb.weight",
            "world_model.embedder.embedding_tables.1.weight": "predictor.tok_emb.weight",
            "world_model.head_observations.head_module.0.weight": "predictor.head.fc1.weight",
            "world_model.head_observations.head_module.0.bias": "predictor.head.fc1.bias",
            "world_model.head_observations.head_module.2.weight": "predictor.head.fc2.weight",
            "world_model.head_observations.head_module.2.bias": "predictor.head.fc2.bias",
        }
        if k in simple:
            out[simple[k]] = v
            used.add(k)
            continue
        raise KeyError("unexpected IRIS key %r (not converted, not known to be skippable)" % k)
    return out, skipped


def import_iris(sd_or_path, card_path, resolution=64, heads=4, norm_groups=32, name=None, dtype="f32"):
    """Convert and export. Returns (model, skipped keys)."""
    sd = _load_checkpoint(sd_or_path) if isinstance(sd_or_path, str) else sd_or_path
    if name is None:
        name = os.path.splitext(os.path.basename(card_path))[0]
    card = infer_card(sd, resolution=resolution, heads=heads, norm_groups=norm_groups, name=name)
    card = cardmod.validate_card(card)
    model = R.build_model(card)
    tensors, skipped = convert_state_dict(sd)
    model.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()}, strict=True)
    export.export_model(model, card_path, dtype=dtype, training=card["training"],
                        metadata={"source": "iris"})
    return model, skipped


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("out", help="output card path (.yaml); weights go next to it")
    ap.add_argument("--name")
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--norm-groups", type=int, default=32)
    ap.add_argument("--dtype", default="f32", choices=sorted(export.DTYPES))
    args = ap.parse_args(argv)
    _, skipped = import_iris(args.checkpoint, args.out, resolution=args.resolution, heads=args.heads,
                             norm_groups=args.norm_groups, name=args.name, dtype=args.dtype)
    prefixes = sorted({".".join(k.split(".")[:2]) for k in skipped})
    print("wrote %s (skipped %d tensors under %s)" % (args.out, len(skipped), ", ".join(prefixes)))


if __name__ == "__main__":
    main()
