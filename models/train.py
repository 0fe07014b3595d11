#!/usr/bin/python3
"""Train a world model on recorded episodes (docs/recording.md): the VQ tokenizer first, then the
predictor on the tokenized episodes, then export a card + safetensors.

    /usr/bin/python3 models/train.py vq        CARD.yaml DATA_DIR OUT_DIR [--minutes M] ...
    /usr/bin/python3 models/train.py predictor CARD.yaml DATA_DIR OUT_DIR [--minutes M] ...
    /usr/bin/python3 models/train.py export    CARD.yaml OUT_DIR OUT_CARD.yaml [--dtype f16]

Each stage writes OUT_DIR/<stage>.pt (state dict), OUT_DIR/<stage>-loss.png (loss curve) and
OUT_DIR/<stage>.json (settings, timings, evaluation), and shows a progress bar. Everything is
seeded (--seed); with the same data, seed, step count and thread count a run is repeatable.
`models/train_demo.sh` runs the whole recipe of the shipped demo model.

The modules are the reference's own (arvideo.reference), so the exported weights load into the C
runtime unchanged. Only the training-time quantizer differs from inference: it computes the
nearest code in float32 (|z|^2 - 2 z.e + |e|^2) and passes gradients straight through.
"""

import argparse
import glob
import json
import math
import os
import sys
import time

# OpenBLAS on one thread unless set, before numpy and torch load it: Debian's pthread build
# keeps its own pool spinning beside PyTorch's OpenMP threads, and on the project's 2-core
# machine float32 predictor steps took 1.6x longer with both (40 steps: 31-32 s against
# 19-20 s); --bf16 steps run in oneDNN and are the same either way.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from arvideo import card as cardmod  # noqa: E402
from arvideo import export as exportmod  # noqa: E402
from arvideo import reference as R  # noqa: E402
from arvideo import safetensors_io  # noqa: E402


# ---------------------------------------------------------------------------------------------
# data

def load_episodes(data_dir, resolution):
    """All episodes of DATA_DIR: (frames uint8 [E, T, H, W, C], actions f32 [E, T, A], names)."""
    paths = sorted(glob.glob(os.path.join(data_dir, "*.safetensors")))
    if not paths:
        raise SystemExit("no episodes (*.safetensors) in %s" % data_dir)
    frames, actions, names = [], [], []
    for p in paths:
        t, meta = safetensors_io.load(p)
        if meta.get("format") != "arvideo-episode/1":
            raise SystemExit("%s: not an arvideo episode (format %r)" % (p, meta.get("format")))
        f = t["frames"]
        if tuple(f.shape[1:3]) != tuple(resolution):
            raise SystemExit("%s: frames are %dx%d, the card wants %dx%d"
                             % (p, f.shape[2], f.shape[1], resolution[1], resolution[0]))
        frames.append(f)
        actions.append(t["actions"].astype(np.float32))
        names.append(os.path.basename(p))
    lengths = {f.shape[0] for f in frames}
    if len(lengths) != 1:
        raise SystemExit("episodes have different lengths %s: record them with the same --frames"
                         % sorted(lengths))
    return np.stack(frames), np.stack(actions), names


def split(n_episodes, n_val):
    """Deterministic train/validation split of episode indices (the last n_val are held out)."""
    idx = np.arange(n_episodes)
    return idx[: n_episodes - n_val], idx[n_episodes - n_val:]


# ---------------------------------------------------------------------------------------------
# progress, curves, reports

class Progress:
    """A one-line progress bar on stderr (no tqdm on a bare Debian)."""

    def __init__(self, total_steps, minutes, label):
        self.total, self.minutes, self.label = total_steps, minutes, label
        self.t0 = time.time()

    def done_fraction(self, step):
        f = step / self.total if self.total else 0.0
        if self.minutes:
            f = max(f, (time.time() - self.t0) / (60.0 * self.minutes))
        return min(f, 1.0)

    def update(self, step, **stats):
        f = self.done_fraction(step)
        bar = "#" * int(30 * f) + "." * (30 - int(30 * f))
        el = time.time() - self.t0
        eta = el / f - el if f > 0 else 0
        s = " ".join("%s %.4g" % kv for kv in stats.items())
        sys.stderr.write("\r%s [%s] %3d%% step %d  %s  %.0fs (eta %.0fs)  "
                         % (self.label, bar, 100 * f, step, s, el, eta))
        sys.stderr.flush()

    def close(self):
        sys.stderr.write("\n")


def plot_curves(path, series, title):
    """Loss curves as a PNG with PIL (log y axis). series: {name: [(step, value), ...]}."""
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        print("no PIL (python3-pil): %s not written" % path)
        return
    w, h, m = 640, 360, 48
    img = Image.new("RGB", (w, h), (255, 255, 255))
    d = ImageDraw.Draw(img)
    pts = [(s, v) for vals in series.values() for s, v in vals if v > 0 and math.isfinite(v)]
    if not pts:
        img.save(path)
        return
    smax = max(s for s, _ in pts) or 1
    lo, hi = math.log10(min(v for _, v in pts)), math.log10(max(v for _, v in pts))
    if hi - lo < 1e-6:
        hi = lo + 1
    d.rectangle([m, m // 2, w - m // 2, h - m], outline=(0, 0, 0))
    for k in range(int(math.floor(lo)), int(math.ceil(hi)) + 1):
        y = h - m - (k - lo) / (hi - lo) * (h - 1.5 * m)
        if m // 2 <= y <= h - m:
            d.line([m, y, w - m // 2, y], fill=(225, 225, 225))
            d.text((4, y - 6), "1e%d" % k, fill=(0, 0, 0))
    colors = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]
    for i, (name, vals) in enumerate(series.items()):
        c = colors[i % len(colors)]
        xy = [(m + s / smax * (w - 1.5 * m), h - m - (math.log10(v) - lo) / (hi - lo) * (h - 1.5 * m))
              for s, v in vals if v > 0 and math.isfinite(v)]
        if len(xy) > 1:
            d.line(xy, fill=c, width=2)
        d.text((m + 8, m // 2 + 6 + 14 * i), name, fill=c)
    d.text((m, h - m + 8), "step 0 .. %d   %s" % (smax, title), fill=(0, 0, 0))
    img.save(path)


def smooth(values, k=20):
    out, acc = [], []
    for s, v in values:
        acc.append(v)
        acc = acc[-k:]
        out.append((s, sum(acc) / len(acc)))
    return out


def autocast(args, dev):
    """bfloat16 autocast for --bf16 (weights and optimizer stay float32). On a CPU with
    AVX512-BF16 (oneDNN) a predictor step is ~6x faster than float32; elsewhere it may be slower."""
    return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=args.bf16)


def psnr(mse):
    return 10 * math.log10(255.0 ** 2 / max(mse, 1e-12))


def cosine_lr(step, fraction, base, warmup):
    """Linear warmup over @warmup steps, then a cosine from base to base/10 over the run
    (@fraction: how much of the step or time budget is used)."""
    if step < warmup:
        return base * (step + 1) / warmup
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, fraction))))


def save_report(path, report):
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")


# ---------------------------------------------------------------------------------------------
# tokenizer

def quantize_train(z, codebook):
    """Nearest code in float32 with a straight-through gradient.
    Returns (z_q_st, tokens [N], codebook loss, commitment loss)."""
    b, d, h, w = z.shape
    zf = z.permute(0, 2, 3, 1).reshape(-1, d)
    e = codebook.weight
    dist = (zf * zf).sum(1, keepdim=True) - 2 * zf @ e.t() + (e * e).sum(1)[None]
    idx = dist.argmin(1)
    zq = e[idx]
    cb_loss = F.mse_loss(zq, zf.detach())
    commit = F.mse_loss(zf, zq.detach())
    zq_st = zf + (zq - zf).detach()
    return zq_st.reshape(b, h, w, d).permute(0, 3, 1, 2), idx, cb_loss, commit


@torch.no_grad()
def eval_tokenizer(tok, frames_u8, batch=64):
    """Reconstruction PSNR (aggregate MSE) and codebook usage with the inference path."""
    tok.eval()
    dev = tok.codebook.weight.device
    sq, n, used = 0.0, 0, torch.zeros(tok.codebook.weight.shape[0], dtype=torch.int64)
    for i in range(0, len(frames_u8), batch):
        f = torch.from_numpy(frames_u8[i:i + batch]).to(dev)
        _, tokens = tok.encode(f)
        used += torch.bincount(tokens.flatten().cpu(), minlength=used.numel())
        out = tok.decode_pixels(tokens)
        sq += ((out.to(torch.float64) - f.to(torch.float64)) ** 2).sum().item()
        n += f.numel()
    tok.train()
    p = used.to(torch.float64) / used.sum()
    perplexity = math.exp(-(p[p > 0] * p[p > 0].log()).sum().item())
    return {"recon_psnr": psnr(sq / n), "codes_used": int((used > 0).sum()),
            "codebook_size": int(used.numel()), "perplexity": perplexity}


def random_crops(x, size, align, gen):
    """Crops of size x size at offsets that are multiples of @align (keeps the token grid phase)."""
    b, c, h, w = x.shape
    if size >= h and size >= w:
        return x
    oy = (torch.randint(0, (h - size) // align + 1, (b,), generator=gen) * align).tolist()
    ox = (torch.randint(0, (w - size) // align + 1, (b,), generator=gen) * align).tolist()
    return torch.stack([x[i, :, oy[i]:oy[i] + size, ox[i]:ox[i] + size] for i in range(b)])


def init_norm_free(tok):
    """Initialisation for a tokenizer without normalisation layers (card `norm: none`). PyTorch's
    default conv init scales the signal by about 1/3 per layer, which GroupNorm used to undo;
    without it the deep encoder/decoder starts with vanishing outputs and barely learns. Here
    every conv keeps the variance (std 1/sqrt(fan_in)) and the last conv of each residual branch
    starts at zero, so that every block starts as its shortcut (SkipInit/Fixup)."""
    for mod in tok.modules():
        if isinstance(mod, nn.Conv2d):
            fan_in = mod.weight.shape[1] * mod.weight.shape[2] * mod.weight.shape[3]
            nn.init.normal_(mod.weight, 0.0, 1.0 / math.sqrt(fan_in))
            nn.init.zeros_(mod.bias)
        if isinstance(mod, R.ResnetBlock):
            nn.init.zeros_(mod.conv2.weight)


def train_vq(args):
    card = cardmod.load_card(args.card)
    tcfg = card["tokenizer"]
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    frames, _, names = load_episodes(args.data, tcfg["resolution"])
    tr, va = split(len(frames), args.val_episodes)
    train_frames = frames[tr].reshape(-1, *frames.shape[2:])
    val_frames = frames[va][:, ::4].reshape(-1, *frames.shape[2:])
    model = R.WorldModel(card)
    tok = model.tokenizer
    if tcfg["norm"] == "none":
        init_norm_free(tok)
    dev = torch.device(args.device)
    tok.to(dev)
    tok.train()
    down = 2 ** (len(tcfg["encoder"]["channel_mult"]) - 1)
    opt = torch.optim.Adam(tok.parameters(), lr=args.lr)
    k = tcfg["codebook"]["size"]
    usage = torch.zeros(k, device=dev)
    curves = {"reconstruction (mse)": [], "codebook": []}
    prog = Progress(args.steps, args.minutes, "vq")
    t0 = time.time()
    step = 0
    restarts = 0
    while step < args.steps and not (args.minutes and time.time() - t0 > 60 * args.minutes):
        # The first part trains on crops (the network is convolutional; crops keep the token
        # grid's phase), the rest on whole frames so that the attention sees the full grid.
        full = prog.done_fraction(step) >= args.crop_fraction
        sel = torch.randint(0, len(train_frames), (args.batch,), generator=gen)
        x = R.pixels_to_float(torch.from_numpy(train_frames[sel.numpy()]).to(dev))
        if not full:
            x = random_crops(x, args.crop, down, gen)
        with autocast(args, dev):
            z = tok.pre_quant_conv(tok.encoder(x)).float()
        if step == 0:
            # Codebook initialised on encoder outputs, so that every code starts in use.
            with torch.no_grad():
                zf = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
                tok.codebook.weight.copy_(zf[torch.randint(0, len(zf), (k,), generator=gen).to(dev)]
                                          + 0.01 * torch.randn(k, z.shape[1], generator=gen).to(dev))
        zq, idx, cb_loss, commit = quantize_train(z, tok.codebook)
        with autocast(args, dev):
            y = tok.decoder(tok.post_quant_conv(zq)).float()
        rec = F.mse_loss(y, x)
        loss = rec + 0.1 * F.l1_loss(y, x) + cb_loss + args.beta * commit
        lr = cosine_lr(step, prog.done_fraction(step), args.lr, 50)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        usage += torch.bincount(idx, minlength=k).float()
        step += 1
        if step % args.restart_every == 0 and prog.done_fraction(step) < 0.9:
            # Dead codes restart on random encoder outputs of this batch.
            dead = (usage == 0).nonzero().flatten()
            if len(dead):
                with torch.no_grad():
                    zf = z.detach().permute(0, 2, 3, 1).reshape(-1, z.shape[1])
                    pick = torch.randint(0, len(zf), (len(dead),), generator=gen).to(dev)
                    tok.codebook.weight[dead] = zf[pick] + 0.01 * torch.randn(
                        len(dead), z.shape[1], generator=gen).to(dev)
                restarts += len(dead)
            usage.zero_()
        # pixel MSE in [-1,1] units -> 8-bit PSNR of this batch (approximate, before rounding)
        curves["reconstruction (mse)"].append((step, rec.item()))
        curves["codebook"].append((step, cb_loss.item()))
        if step % 10 == 0:
            prog.update(step, rec=rec.item(), psnr=psnr(rec.item() * 127.5 ** 2), lr=lr)
    prog.close()
    train_s = time.time() - t0
    ev = eval_tokenizer(tok, val_frames)
    tok.cpu()
    print("vq: %d steps in %.0f s; held-out recon_psnr=%.2f dB, codes used %d/%d (perplexity %.1f), "
          "%d dead-code restarts" % (step, train_s, ev["recon_psnr"], ev["codes_used"], k,
                                     ev["perplexity"], restarts))
    os.makedirs(args.out, exist_ok=True)
    torch.save(tok.state_dict(), os.path.join(args.out, "vq.pt"))
    plot_curves(os.path.join(args.out, "vq-loss.png"),
                {n: smooth(v) for n, v in curves.items()}, "vq tokenizer")
    save_report(os.path.join(args.out, "vq.json"), {
        "stage": "vq", "steps": step, "seconds": round(train_s), "batch": args.batch,
        "crop": args.crop, "crop_fraction": args.crop_fraction, "lr": args.lr, "beta": args.beta,
        "device": args.device, "bf16": args.bf16, "seed": args.seed,
        "episodes_train": len(tr), "episodes_val": len(va),
        "dead_code_restarts": restarts, "threads": torch.get_num_threads(),
        "eval_heldout": ev})


# ---------------------------------------------------------------------------------------------
# predictor

@torch.no_grad()
def tokenize_all(tok, frames, batch=128):
    """frames uint8 [E, T, H, W, C] -> tokens int64 [E, T, h*w]."""
    tok.eval()
    dev = tok.codebook.weight.device
    e, t = frames.shape[:2]
    flat = frames.reshape(-1, *frames.shape[2:])
    out = []
    for i in range(0, len(flat), batch):
        # float32 |z|^2 - 2 z.e + |e|^2, as the C runtime computes it (the reference's float64
        # distance tensor is exact but ~10x slower here; they differ only at near-ties)
        x = R.pixels_to_float(torch.from_numpy(flat[i:i + batch]).to(dev))
        z = tok.pre_quant_conv(tok.encoder(x))
        out.append(quantize_train(z, tok.codebook)[1].reshape(-1, tok.grid[0] * tok.grid[1]).cpu())
    return torch.cat(out).reshape(e, t, -1)


def frame_targets(pred, n, device="cpu"):
    """Sequence positions whose logits predict a token of frames 1..n-1, and those tokens' index
    (frame, token) — the first frame of a window has nothing to be predicted from."""
    T, L = pred.T, pred.block_len
    pos, frm, tk = [], [], []
    for f in range(1, n):
        for i in range(T):
            pos.append(f * L + i - 1)     # the logits at p predict the token at p+1
            frm.append(f)
            tk.append(i)
    return (torch.tensor(pos, device=device), torch.tensor(frm, device=device),
            torch.tensor(tk, device=device))


def batch_windows(tokens, actions, ep_idx, n, batch, gen):
    e = ep_idx[torch.randint(0, len(ep_idx), (batch,), generator=gen)]
    start = torch.randint(0, tokens.shape[1] - n + 1, (batch,), generator=gen)
    ar = torch.arange(n)
    tk = tokens[e[:, None], start[:, None] + ar[None]]            # [B, n, T]
    ac = actions[e[:, None], start[:, None] + ar[None, :-1]]      # [B, n-1, A]
    return tk, ac


@torch.no_grad()
def eval_predictor(pred, tokens, actions, ep_idx, n, gen, windows=256):
    """Teacher-forced next-frame token accuracy and loss on held-out windows (last frame)."""
    pred.eval()
    dev = next(pred.parameters()).device
    tk, ac = batch_windows(tokens, actions, torch.as_tensor(ep_idx), n, windows, gen)
    tk, ac = tk.to(dev), ac.to(dev)
    logits = pred(tk, ac)
    pos, frm, ti = frame_targets(pred, n, dev)
    last = frm == n - 1
    lg = logits[:, pos[last]]
    tgt = tk[:, n - 1, ti[last]]
    loss = F.cross_entropy(lg.reshape(-1, lg.shape[-1]), tgt.reshape(-1)).item()
    acc = (lg.argmax(-1) == tgt).float().mean().item()
    copy_acc = (tk[:, n - 2] == tk[:, n - 1]).float().mean().item()
    # The same windows with the actions of other windows: a model that reads the action loses
    # accuracy here, one that ignores it does not.
    shuffled = pred(tk, ac[torch.randperm(ac.shape[0], generator=gen).to(dev)])[:, pos[last]]
    acc_shuffled = (shuffled.argmax(-1) == tgt).float().mean().item()
    pred.train()
    return {"next_frame_token_acc": acc, "shuffled_action_token_acc": acc_shuffled,
            "copy_last_token_acc": copy_acc, "next_frame_loss": loss}


class FactorizedPositions(nn.Module):
    """Training-time positional table: frame[f] + slot[i] + free[f * L + i]. The shared frame and
    slot parts make "the same place one frame back" look alike from the first step, which is
    what copying and moving tokens needs; the free part keeps the table fully general. Saved as
    the plain [max_len, dim] table the card describes (see plain_state_dict)."""

    def __init__(self, table, block_len, factorized):
        super().__init__()
        n, d = table.shape
        scale = 0.02 if factorized else 0.0
        self.frame = nn.Parameter(torch.randn(n // block_len, 1, d) * scale)
        self.slot = nn.Parameter(torch.randn(1, block_len, d) * scale)
        self.free = nn.Parameter(table.detach().clone() * (0.0 if factorized else 1.0))

    @property
    def weight(self):
        return (self.frame + self.slot).reshape(self.free.shape) + self.free

    def forward(self, pos):
        return self.weight[pos]


def plain_state_dict(pred):
    sd = pred.state_dict()
    if isinstance(pred.pos_emb, FactorizedPositions):
        for k in ("frame", "slot", "free"):
            del sd["pos_emb." + k]
        sd["pos_emb.weight"] = pred.pos_emb.weight.detach().clone()
    return sd


def train_predictor(args):
    card = cardmod.load_card(args.card)
    pcfg = card["predictor"]
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    model = R.WorldModel(card)
    model.tokenizer.load_state_dict(torch.load(os.path.join(args.out, "vq.pt")))
    frames, actions, _ = load_episodes(args.data, card["tokenizer"]["resolution"])
    dev = torch.device(args.device)
    t0 = time.time()
    tokens = tokenize_all(model.tokenizer.to(dev), frames)
    print("predictor: tokenized %d frames in %.0f s" % (tokens.shape[0] * tokens.shape[1], time.time() - t0))
    actions = torch.from_numpy(np.nan_to_num(actions))
    tr, va = split(len(frames), args.val_episodes)
    tr, va = torch.as_tensor(tr), torch.as_tensor(va)
    pred = model.predictor
    previous = []
    if args.resume:
        pred.load_state_dict(torch.load(os.path.join(args.out, "predictor.pt")))
        with open(os.path.join(args.out, "predictor.json")) as f:
            prev = json.load(f)
        previous = prev.get("previous_runs", []) + [
            {k: prev[k] for k in ("steps", "seconds", "batch", "lr", "add_to_frame") if k in prev}]
        print("predictor: resuming from %s" % os.path.join(args.out, "predictor.pt"))
    if hasattr(pred, "pos_emb"):   # gpt: learned absolute positions
        pred.pos_emb = FactorizedPositions(pred.pos_emb.weight, pred.block_len, not args.resume)
    pred.to(dev)
    pred.train()
    n = pcfg["context_frames"]
    pos, frm, ti = frame_targets(pred, n, dev)
    decay = [p for nme, p in pred.named_parameters() if p.dim() >= 2 and "emb" not in nme]
    no_decay = [p for nme, p in pred.named_parameters() if not (p.dim() >= 2 and "emb" not in nme)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    curves = {"train": [], "held-out": []}
    shown = {}
    prog = Progress(args.steps, args.minutes, "predictor")
    t0 = time.time()
    step = 0
    while step < args.steps and not (args.minutes and time.time() - t0 > 60 * args.minutes):
        tk, ac = batch_windows(tokens, actions, tr, n, args.batch, gen)
        tk, ac = tk.to(dev), ac.to(dev)
        with autocast(args, dev):
            logits = pred(tk, ac)[:, pos].float()
        tgt = tk[:, frm, ti]
        # Most tokens repeat the previous frame's; weighting the ones that change puts the
        # learning where the dynamics (and the action's effect) are.
        changed = (tgt != tk[:, frm - 1, ti]).float()
        weight = 1.0 + (args.changed_weight - 1.0) * changed
        loss = (F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1),
                                reduction="none") * weight.reshape(-1)).sum() / weight.sum()
        lr = cosine_lr(step, prog.done_fraction(step), args.lr, 50)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(pred.parameters(), 1.0)
        opt.step()
        step += 1
        curves["train"].append((step, loss.item()))
        if step % 100 == 0:
            ev = eval_predictor(pred, tokens, actions, va, n, torch.Generator().manual_seed(1), 64)
            curves["held-out"].append((step, ev["next_frame_loss"]))
            shown = {"acc": ev["next_frame_token_acc"], "shuf": ev["shuffled_action_token_acc"]}
        if step % 5 == 0:
            prog.update(step, loss=loss.item(), lr=lr, **shown)
    prog.close()
    train_s = time.time() - t0
    ev = eval_predictor(pred, tokens, actions, va, n, torch.Generator().manual_seed(1))
    pred.cpu()
    print("predictor: %d steps in %.0f s; held-out next-frame token accuracy %.3f (shuffled actions "
          "%.3f, copy-last %.3f)" % (step, train_s, ev["next_frame_token_acc"],
                                     ev["shuffled_action_token_acc"], ev["copy_last_token_acc"]))
    torch.save(plain_state_dict(pred), os.path.join(args.out, "predictor.pt"))
    plot_curves(os.path.join(args.out, "predictor-loss.png"),
                {"train": smooth(curves["train"]), "held-out": curves["held-out"]},
                "predictor cross-entropy")
    save_report(os.path.join(args.out, "predictor.json"), {
        "stage": "predictor", "steps": step, "seconds": round(train_s), "batch": args.batch,
        "lr": args.lr, "changed_weight": args.changed_weight, "seed": args.seed,
        "add_to_frame": pred.add_to_frame, "device": args.device, "bf16": args.bf16,
        "factorized_positions": not args.resume, "episodes_train": len(tr), "episodes_val": len(va),
        "threads": torch.get_num_threads(), "previous_runs": previous, "eval_heldout": ev})


# ---------------------------------------------------------------------------------------------
# export

def export(args):
    card = cardmod.load_card(args.card)
    model = R.WorldModel(card)
    model.tokenizer.load_state_dict(torch.load(os.path.join(args.out, "vq.pt")))
    model.predictor.load_state_dict(torch.load(os.path.join(args.out, "predictor.pt")))
    training = {}
    for stage in ("vq", "predictor"):
        with open(os.path.join(args.out, stage + ".json")) as f:
            training[stage] = json.load(f)
    if args.notes:
        training["notes"] = args.notes
    if args.eval:
        # areval's key=value lines (tools/areval.c), numbers as numbers
        ev = {}
        with open(args.eval) as f:
            for line in f:
                k, sep, v = line.strip().partition("=")
                if sep and " " not in k and "=" not in v:
                    try:
                        ev[k] = float(v)
                    except ValueError:
                        ev[k] = v
        training["areval"] = ev
    exportmod.export_model(model, args.out_card, dtype=args.dtype, training=training)
    print("export: wrote %s" % args.out_card)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="stage", required=True)
    for name in ("vq", "predictor"):
        p = sub.add_parser(name)
        p.add_argument("card")
        p.add_argument("data", help="directory of episodes (*.safetensors)")
        p.add_argument("out", help="working directory for checkpoints, curves and reports")
        p.add_argument("--steps", type=int, default=2000)
        p.add_argument("--minutes", type=float, default=0, help="stop after this long (0: no limit)")
        p.add_argument("--batch", type=int, default=32)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
        p.add_argument("--val-episodes", type=int, default=16)
        p.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
        p.add_argument("--bf16", action="store_true",
                       help="bfloat16 autocast (fast on CPUs with AVX512-BF16 and on GPUs)")
        if name == "vq":
            p.add_argument("--lr", type=float, default=2e-3)
            p.add_argument("--beta", type=float, default=0.25, help="commitment weight")
            p.add_argument("--crop", type=int, default=32)
            p.add_argument("--crop-fraction", type=float, default=0.8,
                           help="fraction of the run trained on crops")
            p.add_argument("--restart-every", type=int, default=50)
        else:
            p.add_argument("--lr", type=float, default=1e-3)
            p.add_argument("--changed-weight", type=float, default=2.0,
                           help="loss weight of target tokens that differ from the previous frame's")
            p.add_argument("--resume", action="store_true",
                           help="continue from OUT/predictor.pt (a new learning-rate schedule)")
    p = sub.add_parser("export")
    p.add_argument("card")
    p.add_argument("out", help="the training working directory")
    p.add_argument("out_card")
    p.add_argument("--dtype", default="f16", choices=["f32", "f16"])
    p.add_argument("--notes", default="")
    p.add_argument("--eval", help="areval output to record in the card (training.areval)")
    args = ap.parse_args()
    if getattr(args, "threads", 0):
        torch.set_num_threads(args.threads)
    {"vq": train_vq, "predictor": train_predictor, "export": export}[args.stage](args)


if __name__ == "__main__":
    main()
