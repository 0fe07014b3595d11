"""Plain PyTorch reference of the arvideo models (the ground truth for the Vulkan/C implementation).

Module tree == tensor names of models/README.md: `WorldModel` has submodules `tokenizer`
(VQTokenizer, taming-transformers VQGAN layout) and `predictor` (GPTPredictor or LlamaPredictor),
so `WorldModel.state_dict()` keys are exactly the safetensors keys.

Conventions
  * frames: uint8 [B, H, W, C] (RGB or gray).  float frames are NCHW in [-1, 1]:
    x = u8 / 127.5 - 1;  back: u8 = floor(clamp((y + 1) * 127.5, 0, 255) + 0.5).
  * tokens: int64 tensors [B, h, w] (tokenizer) or [B, n, tokens_per_frame] (predictor), raster order.
  * sequence (both predictors): per frame, tokens_per_frame frame tokens then one action token.
    Positions are absolute within the window (0 .. context_frames*(T+1)-1).  Logits at position p
    predict the token at position p+1 (so the logits at an action position predict the first
    token of the next frame).
  * no dropout anywhere (inference reference).

Written for torch >= 1.13 (CPU) and torch 2.x (GPU); uses no deprecated APIs.
"""

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import card as cardmod
from . import safetensors_io


# ----------------------------------------------------------------------------------------------
# pixels

def pixels_to_float(frames):
    """uint8 [B, H, W, C] -> float32 [B, C, H, W] in [-1, 1] (x / 127.5 - 1)."""
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    if frames.dtype != torch.uint8:
        raise TypeError("pixels_to_float expects uint8 frames")
    if frames.dim() == 3:
        frames = frames.unsqueeze(0)
    return frames.permute(0, 3, 1, 2).to(torch.float32) / 127.5 - 1.0


def float_to_pixels(y):
    """float [B, C, H, W] (nominally [-1, 1]) -> uint8 [B, H, W, C]: clamp to [-1, 1], round half up."""
    v = (y.to(torch.float32).clamp(-1.0, 1.0) + 1.0) * 127.5
    return torch.floor(v + 0.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


# ----------------------------------------------------------------------------------------------
# VQ tokenizer (taming-transformers Encoder/Decoder; resamp_with_conv, no double_z, no tanh)

def swish(x):
    return x * torch.sigmoid(x)


def group_norm(channels, groups):
    """GroupNorm(groups, eps 1e-6); groups None (card `norm: none`): identity, with no tensors."""
    if groups is None:
        return nn.Identity()
    return nn.GroupNorm(groups, channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    """norm1 -> swish -> conv1 -> norm2 -> swish -> conv2, plus (1x1 nin_shortcut) residual."""

    def __init__(self, cin, cout, groups):
        super().__init__()
        self.norm1 = group_norm(cin, groups)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2 = group_norm(cout, groups)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1, 1, 0)
        else:
            self.nin_shortcut = None

    def forward(self, x):
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        skip = x if self.nin_shortcut is None else self.nin_shortcut(x)
        return skip + h


class AttnBlock(nn.Module):
    """Single-head self-attention over the H*W positions, 1x1 conv projections, scale C^-0.5."""

    def __init__(self, channels, groups):
        super().__init__()
        self.norm = group_norm(channels, groups)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        n = self.norm(x)
        q = self.q(n).reshape(b, c, h * w).transpose(1, 2)   # [b, hw, c]
        k = self.k(n).reshape(b, c, h * w)                   # [b, c, hw]
        v = self.v(n).reshape(b, c, h * w).transpose(1, 2)   # [b, hw, c]
        att = torch.softmax(torch.bmm(q, k) * (float(c) ** -0.5), dim=-1)  # [b, hw(query), hw(key)]
        o = torch.bmm(att, v).transpose(1, 2).reshape(b, c, h, w)
        return x + self.proj_out(o)


class Downsample(nn.Module):
    """Zero-pad right and bottom by one, then conv3x3 stride 2 (no padding)."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 2, 0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest-neighbour 2x, then conv3x3 (padding 1)."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Level(nn.Module):
    """Holder so that the keys read down.{i}.block.{j} / .attn.{j} / .downsample (or up.{i}...)."""

    def __init__(self):
        super().__init__()
        self.block = nn.ModuleList()
        self.attn = nn.ModuleList()


class _Mid(nn.Module):
    """block_1 -> attn_1 -> block_2; without attention (card `mid_attention: false`) there is no
    attn_1 at all."""

    def __init__(self, channels, groups, attention=True):
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, groups)
        self.attn_1 = AttnBlock(channels, groups) if attention else None
        self.block_2 = ResnetBlock(channels, channels, groups)

    def forward(self, x):
        h = self.block_1(x)
        if self.attn_1 is not None:
            h = self.attn_1(h)
        return self.block_2(h)


def level_has_attention(resolution, level, attn_resolutions):
    """A level (0 = full resolution) has attention when its height H >> level is listed."""
    return (resolution[0] >> level) in attn_resolutions


class Encoder(nn.Module):
    def __init__(self, cfg, in_channels, resolution, groups, mid_attention=True):
        super().__init__()
        ch, mult, nrb = cfg["channels"], cfg["channel_mult"], cfg["res_blocks"]
        self.num_levels = len(mult)
        self.conv_in = nn.Conv2d(in_channels, ch, 3, 1, 1)
        self.down = nn.ModuleList()
        cin = ch
        for i, m in enumerate(mult):
            lvl = _Level()
            cout = ch * m
            for _ in range(nrb):
                lvl.block.append(ResnetBlock(cin, cout, groups))
                cin = cout
                if level_has_attention(resolution, i, cfg["attn_resolutions"]):
                    lvl.attn.append(AttnBlock(cout, groups))
            if i != self.num_levels - 1:
                lvl.downsample = Downsample(cout)
            self.down.append(lvl)
        self.mid = _Mid(cin, groups, mid_attention)
        self.norm_out = group_norm(cin, groups)
        self.conv_out = nn.Conv2d(cin, cfg["z_channels"], 3, 1, 1)

    def forward(self, x):
        h = self.conv_in(x)
        for i, lvl in enumerate(self.down):
            for j, blk in enumerate(lvl.block):
                h = blk(h)
                if len(lvl.attn):
                    h = lvl.attn[j](h)
            if i != self.num_levels - 1:
                h = lvl.downsample(h)
        h = self.mid(h)
        return self.conv_out(swish(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, cfg, out_channels, resolution, groups, mid_attention=True):
        super().__init__()
        ch, mult, nrb = cfg["channels"], cfg["channel_mult"], cfg["res_blocks"]
        self.num_levels = nl = len(mult)
        cin = ch * mult[-1]
        self.conv_in = nn.Conv2d(cfg["z_channels"], cin, 3, 1, 1)
        self.mid = _Mid(cin, groups, mid_attention)
        levels = [None] * nl
        for i in reversed(range(nl)):   # built from the lowest resolution up, stored by level index
            lvl = _Level()
            cout = ch * mult[i]
            for _ in range(nrb + 1):
                lvl.block.append(ResnetBlock(cin, cout, groups))
                cin = cout
                if level_has_attention(resolution, i, cfg["attn_resolutions"]):
                    lvl.attn.append(AttnBlock(cout, groups))
            if i != 0:
                lvl.upsample = Upsample(cout)
            levels[i] = lvl
        self.up = nn.ModuleList(levels)
        self.norm_out = group_norm(cin, groups)
        self.conv_out = nn.Conv2d(cin, out_channels, 3, 1, 1)

    def forward(self, z):
        h = self.mid(self.conv_in(z))
        for i in reversed(range(self.num_levels)):
            lvl = self.up[i]
            for j, blk in enumerate(lvl.block):
                h = blk(h)
                if len(lvl.attn):
                    h = lvl.attn[j](h)
            if i != 0:
                h = lvl.upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


def nearest_code(latents, codebook):
    """latents [B, D, h, w], codebook [K, D] -> tokens int64 [B, h, w] and the squared distances
    [B, h, w, K].  Nearest by squared L2 (computed as sum((z - e)^2) in float64, so it does not
    depend on the matmul order); ties go to the lowest index."""
    b, d, h, w = latents.shape
    z = latents.permute(0, 2, 3, 1).reshape(-1, 1, d).to(torch.float64)
    e = codebook.to(torch.float64).unsqueeze(0)
    dist = ((z - e) ** 2).sum(-1)                  # [N, K]
    # argmin returning the first minimum: make it explicit rather than rely on the backend
    kidx = torch.arange(dist.shape[1], device=dist.device, dtype=torch.float64)
    best = dist.min(dim=1, keepdim=True).values
    tok = torch.where(dist == best, kidx, torch.full_like(dist, float(dist.shape[1]))).min(dim=1).values
    return tok.to(torch.int64).reshape(b, h, w), dist.reshape(b, h, w, -1)


class VQTokenizer(nn.Module):
    def __init__(self, tcfg):
        super().__init__()
        self.cfg = tcfg
        res = tcfg["resolution"]
        groups = tcfg["norm_groups"] if tcfg.get("norm", "group") == "group" else None
        mid_attn = tcfg.get("mid_attention", True)
        self.encoder = Encoder(tcfg["encoder"], tcfg["in_channels"], res, groups, mid_attn)
        self.pre_quant_conv = nn.Conv2d(tcfg["encoder"]["z_channels"], tcfg["codebook"]["dim"], 1)
        self.codebook = nn.Embedding(tcfg["codebook"]["size"], tcfg["codebook"]["dim"])
        self.post_quant_conv = nn.Conv2d(tcfg["codebook"]["dim"], tcfg["decoder"]["z_channels"], 1)
        self.decoder = Decoder(tcfg["decoder"], tcfg["in_channels"], res, groups, mid_attn)

    @property
    def grid(self):
        return cardmod.tokenizer_grid(self.cfg)

    def _as_float(self, frames):
        if isinstance(frames, np.ndarray) or frames.dtype == torch.uint8:
            x = pixels_to_float(frames)
        else:
            x = frames
        x = x.to(self.pre_quant_conv.weight.device, self.pre_quant_conv.weight.dtype)
        if x.dim() != 4 or tuple(x.shape[1:]) != (self.cfg["in_channels"],) + tuple(self.cfg["resolution"]):
            raise ValueError("frames have shape %s, expected [B, %d, %d, %d] (float) or NHWC uint8"
                             % (tuple(x.shape), self.cfg["in_channels"], *self.cfg["resolution"]))
        return x

    def encode(self, frames, return_distances=False):
        """frames: uint8 [B, H, W, C] or float [B, C, H, W] in [-1, 1].
        Returns (latents [B, D, h, w] after pre_quant_conv, tokens int64 [B, h, w])."""
        z = self.pre_quant_conv(self.encoder(self._as_float(frames)))
        tokens, dist = nearest_code(z, self.codebook.weight)
        return (z, tokens, dist) if return_distances else (z, tokens)

    def embed_tokens(self, tokens):
        """tokens [B, h, w] -> quantized latents [B, D, h, w]."""
        return self.codebook(tokens.to(torch.int64)).permute(0, 3, 1, 2).contiguous()

    def decode(self, tokens):
        """tokens int [B, h, w] (or [B, h*w]) -> float frames [B, C, H, W] (raw decoder output, not clamped)."""
        tokens = torch.as_tensor(tokens).to(self.codebook.weight.device)
        gh, gw = self.grid
        tokens = tokens.reshape(-1, gh, gw)
        return self.decoder(self.post_quant_conv(self.embed_tokens(tokens)))

    def decode_pixels(self, tokens):
        return float_to_pixels(self.decode(tokens))

    def forward(self, frames):
        return self.decode(self.encode(frames)[1])


# ----------------------------------------------------------------------------------------------
# predictors: shared sequence handling, KV cache, sampling

class KVCache:
    """Per-layer keys/values [B, heads, max_len, head_dim]; `length` positions are filled."""

    def __init__(self, layers, batch, heads, max_len, head_dim, device=None, dtype=torch.float32):
        self.k = [torch.zeros(batch, heads, max_len, head_dim, device=device, dtype=dtype) for _ in range(layers)]
        self.v = [torch.zeros(batch, heads, max_len, head_dim, device=device, dtype=dtype) for _ in range(layers)]
        self.max_len = max_len
        self.length = 0

    def append(self, layer, k, v):
        """Store k, v [B, heads, T, hd] at positions length..length+T-1; return all keys/values so far."""
        t0, t = self.length, k.shape[2]
        if t0 + t > self.max_len:
            raise RuntimeError("KV cache overflow (%d + %d > %d)" % (t0, t, self.max_len))
        self.k[layer][:, :, t0:t0 + t] = k
        self.v[layer][:, :, t0:t0 + t] = v
        return self.k[layer][:, :, :t0 + t], self.v[layer][:, :, :t0 + t]


def causal_attention(q, k, v, q_start):
    """q [B, H, T, hd] at absolute positions q_start.., k/v [B, H, S, hd] at positions 0..S-1."""
    t, s = q.shape[2], k.shape[2]
    att = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    qpos = torch.arange(q_start, q_start + t, device=q.device).unsqueeze(1)
    kpos = torch.arange(s, device=q.device).unsqueeze(0)
    att = att.masked_fill(kpos > qpos, float("-inf"))
    return torch.matmul(torch.softmax(att, dim=-1), v)


class Sampler:
    """logits [B, V] -> tokens int64 [B].  temperature <= 0: argmax (greedy, ties -> lowest index);
    else softmax(logits / temperature) restricted to the top_k (0: all) and sampled.  A generator
    must live on the logits' device (torch.multinomial requirement)."""

    def __init__(self, temperature=1.0, top_k=0, generator=None):
        self.temperature, self.top_k, self.generator = float(temperature), int(top_k), generator

    def __call__(self, logits):
        if self.temperature <= 0.0:
            return greedy(logits)
        l = logits.to(torch.float32) / self.temperature
        if 0 < self.top_k < l.shape[-1]:
            kth = torch.topk(l, self.top_k, dim=-1).values[..., -1:]
            l = l.masked_fill(l < kth, float("-inf"))
        p = torch.softmax(l, dim=-1)
        return torch.multinomial(p, 1, generator=self.generator).squeeze(-1)


def greedy(logits):
    return torch.argmax(logits, dim=-1)


class _PredictorBase(nn.Module):
    """Sequence building, full forward, KV-cache prefill/step and frame generation."""

    def _init_common(self, pcfg):
        self.cfg = pcfg
        self.T = pcfg["tokens_per_frame"]
        self.block_len = self.T + 1
        self.max_len = pcfg["context_frames"] * self.block_len
        self.head_dim = pcfg["dim"] // pcfg["heads"]
        act = pcfg["action"]
        self.discrete = act["kind"] == "discrete"
        # add_to_frame: each frame's tokens also get the embedding of the action that led to
        # it (besides the action token), so every position of the frame sees the action.
        self.add_to_frame = bool(act.get("add_to_frame", False))
        if self.discrete:
            self.act_emb = nn.Embedding(act["count"], pcfg["dim"])
        else:
            self.act_proj = nn.Linear(act["dim"], pcfg["dim"], bias=True)

    # --- embeddings (no positional information) -----------------------------------------------
    def embed_frame_tokens(self, tokens):
        """int [B, L] -> [B, L, dim]."""
        return self.tok_emb(tokens.to(torch.int64))

    def _action_vector(self, actions):
        """discrete: int [B] -> [B, dim]; continuous: float [B, A] -> [B, dim]."""
        if self.discrete:
            return self.act_emb(actions.to(torch.int64))
        return self.act_proj(actions.to(self.act_proj.weight.dtype))

    def embed_action(self, actions):
        """action token embedding [B, 1, dim] (overridden by llama: adds sep_emb)."""
        return self._action_vector(actions).unsqueeze(1)

    def embed_sequence(self, tokens, actions, led_by=None):
        """tokens int [B, n, T]; actions [B, m] (discrete) or [B, m, A] (continuous), m in {n-1, n}:
        the action after frame i is actions[:, i].  led_by: the action that led to frame 0, when
        these frames follow cached ones (used with add_to_frame, as step_token's).  Returns
        [B, n*T + m, dim] (no positions)."""
        tokens = torch.as_tensor(tokens)
        b, n, t = tokens.shape
        if t != self.T:
            raise ValueError("expected %d tokens per frame, got %d" % (self.T, t))
        actions = torch.as_tensor(actions).to(tokens.device)
        m = actions.shape[1]
        if m not in (n - 1, n):
            raise ValueError("need n or n-1 actions for n frames (got %d for %d)" % (m, n))
        parts = []
        for i in range(n):
            emb = self.embed_frame_tokens(tokens[:, i])
            lead = actions[:, i - 1] if i > 0 else led_by
            if self.add_to_frame and lead is not None:
                emb = emb + self._action_vector(lead).unsqueeze(1)
            parts.append(emb)
            if i < m:
                parts.append(self.embed_action(actions[:, i]))
        return torch.cat(parts, dim=1)

    # --- running -------------------------------------------------------------------------------
    def new_cache(self, batch, device=None):
        dev = device if device is not None else self.tok_emb.weight.device
        return KVCache(self.cfg["layers"], batch, self.cfg["heads"], self.max_len, self.head_dim,
                       device=dev, dtype=self.tok_emb.weight.dtype)

    def forward_embeddings(self, x, cache=None):
        """x [B, L, dim] (sequence embeddings without positions) at positions start.. where start =
        cache.length (0 without cache).  Appends to the cache.  Returns logits [B, L, vocab]."""
        start = 0 if cache is None else cache.length
        if start + x.shape[1] > self.max_len:
            raise ValueError("sequence longer than the context window (%d > %d)" % (start + x.shape[1], self.max_len))
        h = self.trunk(x, start, cache)
        if cache is not None:
            cache.length = start + x.shape[1]
        return h

    def forward(self, tokens, actions):
        """Full-sequence forward, no cache: logits [B, L, vocab] for embed_sequence(tokens, actions)."""
        return self.forward_embeddings(self.embed_sequence(tokens, actions))

    def prefill(self, tokens, actions, cache, led_by=None):
        return self.forward_embeddings(self.embed_sequence(tokens, actions, led_by), cache)

    def step_token(self, token, cache, led_by=None):
        """One frame token (int [B]) -> logits [B, vocab].  led_by: the action that led to the
        token's frame ([B] or [B, A]; None for a window's first frame), used with add_to_frame."""
        emb = self.embed_frame_tokens(token.reshape(-1, 1))
        if self.add_to_frame and led_by is not None:
            emb = emb + self._action_vector(led_by).unsqueeze(1)
        return self.forward_embeddings(emb, cache)[:, -1]

    def step_action(self, action, cache):
        """One action token ([B] or [B, A]) -> logits [B, vocab] (predicting the next frame's first token)."""
        return self.forward_embeddings(self.embed_action(action), cache)[:, -1]

    @torch.no_grad()
    def generate_frame(self, context, action, sampler=None):
        """context = (tokens int [B, n, T], actions [B, n-1] or [B, n-1, A]): n >= 1 frames and the
        actions between them; action: the action after the last frame ([B] or [B, A]).
        Returns the next frame's tokens int64 [B, T].  Uses a KV cache: one prefill over the
        context + action, then one step per generated token.  If n + 1 > context_frames the oldest
        frames are dropped (the window is re-based at position 0)."""
        tokens, actions = context
        return Rollout(self, tokens, actions).step(action, sampler)


class Rollout:
    """Autoregressive rollout with a KV cache.  Keeps the last frames and actions; when the next
    frame would not fit in the window, policy "slide" (the default) keeps the last
    context_frames-1 frames, re-bases their positions at 0 and re-prefills the cache (positions
    are absolute within the window); policy "refresh" (IRIS's WorldModelEnv, the C predictor's
    AR_CONTEXT_REFRESH) keeps only the last frame, at position 0, and appends from there."""

    def __init__(self, predictor, tokens, actions, policy="slide"):
        if policy not in ("slide", "refresh"):
            raise ValueError("policy: slide or refresh, not %r" % (policy,))
        self.policy = policy
        self.p = predictor
        tokens = torch.as_tensor(tokens).to(predictor.tok_emb.weight.device).to(torch.int64)
        actions = torch.as_tensor(actions).to(tokens.device)
        if tokens.dim() != 3 or actions.shape[1] != tokens.shape[1] - 1:
            raise ValueError("context: tokens [B, n, T] and n-1 actions")
        self.tokens, self.actions = tokens, actions
        self.cache = None

    @torch.no_grad()
    def step(self, action, sampler=None):
        p = self.p
        sampler = sampler or greedy
        action = torch.as_tensor(action).to(self.tokens.device)
        if action.dim() == (1 if p.discrete else 2):
            action = action.unsqueeze(1)           # [B, 1] / [B, 1, A]
        n = self.tokens.shape[1]
        keep = p.cfg["context_frames"] - 1
        if n > keep:
            if self.policy == "refresh":
                keep = 1
            self.tokens = self.tokens[:, n - keep:]
            self.actions = self.actions[:, n - keep:]
            self.cache = None
            n = keep
        if self.cache is None:
            self.cache = p.new_cache(self.tokens.shape[0])
            if n > 0:
                logits = p.prefill(self.tokens, torch.cat([self.actions, action], dim=1), self.cache)[:, -1]
            else:
                logits = p.step_action(action[:, 0], self.cache)
        else:
            # the cache holds every position except the last token of the last frame
            led_by = self.actions[:, -1] if self.actions.shape[1] > 0 else None
            p.step_token(self.tokens[:, -1, -1], self.cache, led_by)
            logits = p.step_action(action[:, 0], self.cache)
        out = []
        for k in range(p.T):
            tok = sampler(logits)
            out.append(tok)
            if k + 1 < p.T:
                logits = p.step_token(tok, self.cache, action[:, 0])
        new = torch.stack(out, dim=1)
        self.tokens = torch.cat([self.tokens, new.unsqueeze(1)], dim=1)
        self.actions = torch.cat([self.actions, action], dim=1)
        return new


# ----------------------------------------------------------------------------------------------
# GPT (GPT-2 style, pre-norm, learned absolute positions)

class GPTAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, start, cache, layer):
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)
        q, k, v = (y.reshape(b, t, self.heads, d // self.heads).transpose(1, 2) for y in (q, k, v))
        if cache is not None:
            k, v = cache.append(layer, k, v)
        o = causal_attention(q, k, v, start)
        return self.proj(o.transpose(1, 2).reshape(b, t, d))


class GPTMLP(nn.Module):
    def __init__(self, dim, hidden, gelu):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.approximate = "tanh" if gelu == "tanh" else "none"

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate=self.approximate))


class GPTBlock(nn.Module):
    def __init__(self, pcfg):
        super().__init__()
        d = pcfg["dim"]
        self.ln1 = nn.LayerNorm(d, eps=pcfg["norm_eps"])
        self.attn = GPTAttention(d, pcfg["heads"])
        self.ln2 = nn.LayerNorm(d, eps=pcfg["norm_eps"])
        self.mlp = GPTMLP(d, pcfg["mlp_hidden"], pcfg["gelu"])

    def forward(self, x, start, cache, layer):
        x = x + self.attn(self.ln1(x), start, cache, layer)
        return x + self.mlp(self.ln2(x))


class MLPHead(nn.Module):
    """IRIS-style head: fc1 -> ReLU -> fc2."""

    def __init__(self, dim, hidden, vocab):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, vocab)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class GPTPredictor(_PredictorBase):
    def __init__(self, pcfg):
        super().__init__()
        self._init_common(pcfg)
        d = pcfg["dim"]
        self.tok_emb = nn.Embedding(pcfg["vocab"], d)
        self.pos_emb = nn.Embedding(self.max_len, d)
        self.blocks = nn.ModuleList([GPTBlock(pcfg) for _ in range(pcfg["layers"])])
        self.ln_f = nn.LayerNorm(d, eps=pcfg["norm_eps"])
        if pcfg["head_hidden"] > 0:
            self.head = MLPHead(d, pcfg["head_hidden"], pcfg["vocab"])
        else:
            self.head = nn.Linear(d, pcfg["vocab"])

    def trunk(self, x, start, cache):
        pos = torch.arange(start, start + x.shape[1], device=x.device)
        h = x + self.pos_emb(pos).unsqueeze(0)
        for i, blk in enumerate(self.blocks):
            h = blk(h, start, cache, i)
        return self.head(self.ln_f(h))


# ----------------------------------------------------------------------------------------------
# Llama (RMSNorm, rotary rotate-half, SwiGLU, no biases; separator token carries the action)

class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_cos_sin(positions, head_dim, theta, dtype, device):
    """cos, sin [T, head_dim] for rotate-half rotary: freq_i = theta^(-2i/head_dim), i < head_dim/2,
    angle = pos * freq_i, duplicated over the two halves.  Computed in float64."""
    inv = theta ** (-torch.arange(0, head_dim // 2, dtype=torch.float64, device=device) * 2.0 / head_dim)
    ang = positions.to(torch.float64).unsqueeze(1) * inv.unsqueeze(0)
    ang = torch.cat([ang, ang], dim=1)
    return ang.cos().to(dtype), ang.sin().to(dtype)


def apply_rope(x, cos, sin):
    """x [B, H, T, hd]; rotate_half(x) = cat(-x2, x1)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


class LlamaAttention(nn.Module):
    def __init__(self, dim, heads, theta):
        super().__init__()
        self.heads, self.theta = heads, theta
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)

    def forward(self, x, start, cache, layer):
        b, t, d = x.shape
        hd = d // self.heads
        q, k, v = self.qkv(x).split(d, dim=-1)
        q, k, v = (y.reshape(b, t, self.heads, hd).transpose(1, 2) for y in (q, k, v))
        cos, sin = rope_cos_sin(torch.arange(start, start + t, device=x.device), hd, self.theta, x.dtype, x.device)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k, v = cache.append(layer, k, v)
        o = causal_attention(q, k, v, start)
        return self.proj(o.transpose(1, 2).reshape(b, t, d))


class SwiGLU(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.gate = nn.Linear(dim, hidden, bias=False)
        self.up = nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)

    def forward(self, x):
        return self.down(F.silu(self.gate(x)) * self.up(x))


class LlamaBlock(nn.Module):
    def __init__(self, pcfg):
        super().__init__()
        d = pcfg["dim"]
        self.norm1 = RMSNorm(d, pcfg["norm_eps"])
        self.attn = LlamaAttention(d, pcfg["heads"], pcfg["rope_theta"])
        self.norm2 = RMSNorm(d, pcfg["norm_eps"])
        self.mlp = SwiGLU(d, pcfg["mlp_hidden"])

    def forward(self, x, start, cache, layer):
        x = x + self.attn(self.norm1(x), start, cache, layer)
        return x + self.mlp(self.norm2(x))


class LlamaPredictor(_PredictorBase):
    def __init__(self, pcfg):
        super().__init__()
        self._init_common(pcfg)
        d = pcfg["dim"]
        self.tok_emb = nn.Embedding(pcfg["vocab"], d)
        self.sep_emb = nn.Parameter(torch.zeros(d))
        self.blocks = nn.ModuleList([LlamaBlock(pcfg) for _ in range(pcfg["layers"])])
        self.norm_f = RMSNorm(d, pcfg["norm_eps"])
        self.head = nn.Linear(d, pcfg["vocab"], bias=False)

    def embed_action(self, actions):
        return (self.sep_emb + self._action_vector(actions)).unsqueeze(1)

    def trunk(self, x, start, cache):
        h = x
        for i, blk in enumerate(self.blocks):
            h = blk(h, start, cache, i)
        return self.head(self.norm_f(h))


# ----------------------------------------------------------------------------------------------
# top level

class WorldModel(nn.Module):
    """tokenizer (optional) + predictor (optional); state_dict keys == safetensors tensor names."""

    def __init__(self, card):
        super().__init__()
        card = cardmod.validate_card({k: v for k, v in card.items() if not k.startswith("_")})
        self.card = card
        self.tokenizer = VQTokenizer(card["tokenizer"]) if "tokenizer" in card else None
        p = card.get("predictor")
        if p is None:
            self.predictor = None
        elif p["kind"] == "gpt":
            self.predictor = GPTPredictor(p)
        else:
            self.predictor = LlamaPredictor(p)


def build_model(card):
    return WorldModel(card).eval()


def load_weights(model, path, strict=True):
    """Load a safetensors file into the model (F16/BF16/F32 -> the model's dtype)."""
    tensors, _ = safetensors_io.load(path)
    sd = model.state_dict()
    missing = sorted(set(sd) - set(tensors))
    unexpected = sorted(set(tensors) - set(sd))
    if strict and (missing or unexpected):
        raise KeyError("weights do not match the card: missing %s, unexpected %s" % (missing[:8], unexpected[:8]))
    new = {}
    for k, ref in sd.items():
        if k not in tensors:
            continue
        a = tensors[k]
        if tuple(a.shape) != tuple(ref.shape):
            raise ValueError("tensor %s has shape %s, expected %s" % (k, a.shape, tuple(ref.shape)))
        new[k] = torch.from_numpy(np.asarray(a, dtype=np.float32)).to(ref.dtype)
    model.load_state_dict(new, strict=strict)
    return model


def load_model(card_path, device="cpu"):
    card = cardmod.load_card(card_path)
    model = build_model(card)
    load_weights(model, card["_weights_path"])
    return model.to(device)


def state_dict_numpy(model, dtype=np.float32):
    return {k: v.detach().cpu().to(torch.float32).numpy().astype(dtype) for k, v in model.state_dict().items()}
