"""Small re-implementation of IRIS's tokenizer and world model (github.com/eloialonso/iris,
src/models/tokenizer/{nets,tokenizer}.py, src/models/{world_model,transformer,slicer}.py), written
for the import test from a reading of that code: same module tree / state_dict key names, same
forward computations (including the IRIS-specific bits: [0,1] -> [-1,1] preprocessing, distance
formula |z|^2 + |e|^2 - 2 z.e, block-mask embedder, head slicing, mask-buffer attention with
an incremental KV cache).  Not IRIS's code: no lpips, no losses, no dropout, and the GroupNorm
group count is a parameter (IRIS hard-codes 32) so that a tiny config is possible.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def _silu(x):
    return x * torch.sigmoid(x)


class IrisNorm(nn.GroupNorm):
    def __init__(self, c, groups):
        super().__init__(num_groups=groups, num_channels=c, eps=1e-6, affine=True)


class IrisResBlock(nn.Module):
    def __init__(self, cin, cout, groups):
        super().__init__()
        self.in_channels, self.out_channels = cin, cout
        self.norm1 = IrisNorm(cin, groups)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = IrisNorm(cout, groups)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        h = self.conv1(_silu(self.norm1(x)))
        h = self.conv2(_silu(self.norm2(h)))
        if self.in_channels != self.out_channels:
            x = self.nin_shortcut(x)
        return x + h


class IrisAttn(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.norm = IrisNorm(c, groups)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        hn = self.norm(x)
        q, k, v = self.q(hn), self.k(hn), self.v(hn)
        b, c, h, w = q.shape
        q = q.reshape(b, c, h * w).permute(0, 2, 1)
        k = k.reshape(b, c, h * w)
        w_ = torch.bmm(q, k) * (int(c) ** (-0.5))
        w_ = F.softmax(w_, dim=2)
        v = v.reshape(b, c, h * w)
        out = torch.bmm(v, w_.permute(0, 2, 1)).reshape(b, c, h, w)
        return x + self.proj_out(out)


class IrisEncoder(nn.Module):
    def __init__(self, resolution, in_channels, z_channels, ch, ch_mult, num_res_blocks, attn_resolutions, groups):
        super().__init__()
        self.nres, self.nrb = len(ch_mult), num_res_blocks
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)
        cur = resolution
        in_mult = (1,) + tuple(ch_mult)
        self.down = nn.ModuleList()
        for i in range(self.nres):
            block, attn = nn.ModuleList(), nn.ModuleList()
            bin_, bout = ch * in_mult[i], ch * ch_mult[i]
            for _ in range(num_res_blocks):
                block.append(IrisResBlock(bin_, bout, groups))
                bin_ = bout
                if cur in attn_resolutions:
                    attn.append(IrisAttn(bin_, groups))
            d = nn.Module()
            d.block, d.attn = block, attn
            if i != self.nres - 1:
                d.downsample = nn.Module()
                d.downsample.conv = nn.Conv2d(bin_, bin_, 3, stride=2, padding=0)
                cur //= 2
            self.down.append(d)
        self.mid = nn.Module()
        self.mid.block_1 = IrisResBlock(bin_, bin_, groups)
        self.mid.attn_1 = IrisAttn(bin_, groups)
        self.mid.block_2 = IrisResBlock(bin_, bin_, groups)
        self.norm_out = IrisNorm(bin_, groups)
        self.conv_out = nn.Conv2d(bin_, z_channels, 3, padding=1)

    def forward(self, x):
        hs = [self.conv_in(x)]
        for i in range(self.nres):
            for j in range(self.nrb):
                h = self.down[i].block[j](hs[-1])
                if len(self.down[i].attn) > 0:
                    h = self.down[i].attn[j](h)
                hs.append(h)
            if i != self.nres - 1:
                hs.append(self.down[i].downsample.conv(F.pad(hs[-1], (0, 1, 0, 1), mode="constant", value=0)))
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(hs[-1])))
        return self.conv_out(_silu(self.norm_out(h)))


class IrisDecoder(nn.Module):
    def __init__(self, resolution, out_ch, z_channels, ch, ch_mult, num_res_blocks, attn_resolutions, groups):
        super().__init__()
        self.nres, self.nrb = len(ch_mult), num_res_blocks
        bin_ = ch * ch_mult[-1]
        cur = resolution // 2 ** (self.nres - 1)
        self.conv_in = nn.Conv2d(z_channels, bin_, 3, padding=1)
        self.mid = nn.Module()
        self.mid.block_1 = IrisResBlock(bin_, bin_, groups)
        self.mid.attn_1 = IrisAttn(bin_, groups)
        self.mid.block_2 = IrisResBlock(bin_, bin_, groups)
        self.up = nn.ModuleList()
        for i in reversed(range(self.nres)):
            block, attn = nn.ModuleList(), nn.ModuleList()
            bout = ch * ch_mult[i]
            for _ in range(num_res_blocks + 1):
                block.append(IrisResBlock(bin_, bout, groups))
                bin_ = bout
                if cur in attn_resolutions:
                    attn.append(IrisAttn(bin_, groups))
            u = nn.Module()
            u.block, u.attn = block, attn
            if i != 0:
                u.upsample = nn.Module()
                u.upsample.conv = nn.Conv2d(bin_, bin_, 3, padding=1)
                cur *= 2
            self.up.insert(0, u)
        self.norm_out = IrisNorm(bin_, groups)
        self.conv_out = nn.Conv2d(bin_, out_ch, 3, padding=1)

    def forward(self, z):
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(self.conv_in(z))))
        for i in reversed(range(self.nres)):
            for j in range(self.nrb + 1):
                h = self.up[i].block[j](h)
                if len(self.up[i].attn) > 0:
                    h = self.up[i].attn[j](h)
            if i != 0:
                h = self.up[i].upsample.conv(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.conv_out(_silu(self.norm_out(h)))


class IrisTokenizer(nn.Module):
    def __init__(self, vocab_size, embed_dim, enc_kwargs, groups):
        super().__init__()
        self.encoder = IrisEncoder(groups=groups, **enc_kwargs)
        dec = dict(enc_kwargs)
        dec["out_ch"] = dec.pop("in_channels")
        self.decoder = IrisDecoder(groups=groups, **dec)
        self.pre_quant_conv = nn.Conv2d(enc_kwargs["z_channels"], embed_dim, 1)
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.post_quant_conv = nn.Conv2d(embed_dim, enc_kwargs["z_channels"], 1)

    def encode(self, x01):
        """x01: float [B, C, H, W] in [0, 1] (IRIS's observations)."""
        x = x01.mul(2).sub(1)
        z = self.pre_quant_conv(self.encoder(x))
        b, e, h, w = z.shape
        zf = z.permute(0, 2, 3, 1).reshape(-1, e)
        d = (zf ** 2).sum(1, keepdim=True) + (self.embedding.weight ** 2).sum(1) - 2 * zf @ self.embedding.weight.t()
        tokens = d.argmin(dim=-1)
        zq = self.embedding(tokens).reshape(b, h, w, e).permute(0, 3, 1, 2).contiguous()
        return z, zq, tokens.reshape(b, -1)

    def decode(self, zq):
        """-> IRIS post-processed frames in [0, 1] (before IRIS's clamp)."""
        return self.decoder(self.post_quant_conv(zq)).add(1).div(2)


class IrisSelfAttention(nn.Module):
    def __init__(self, dim, heads, max_tokens):
        super().__init__()
        self.num_heads = heads
        self.key = nn.Linear(dim, dim)
        self.query = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.register_buffer("mask", torch.tril(torch.ones(max_tokens, max_tokens)))

    def forward(self, x, cache=None):
        B, T, C = x.shape
        nh = self.num_heads
        L = 0 if cache is None else cache["k"].shape[2]
        q = self.query(x).view(B, T, nh, C // nh).transpose(1, 2)
        k = self.key(x).view(B, T, nh, C // nh).transpose(1, 2)
        v = self.value(x).view(B, T, nh, C // nh).transpose(1, 2)
        if cache is not None:
            cache["k"] = torch.cat([cache["k"], k], dim=2)
            cache["v"] = torch.cat([cache["v"], v], dim=2)
            k, v = cache["k"], cache["v"]
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.mask[L:L + T, :L + T] == 0, float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class IrisBlock(nn.Module):
    def __init__(self, dim, heads, max_tokens):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.ln2 = nn.LayerNorm(dim)
        self.attn = IrisSelfAttention(dim, heads, max_tokens)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(0.0))

    def forward(self, x, cache=None):
        x = x + self.attn(self.ln1(x), cache)
        return x + self.mlp(self.ln2(x))


class IrisTransformer(nn.Module):
    def __init__(self, layers, dim, heads, max_tokens):
        super().__init__()
        self.blocks = nn.ModuleList([IrisBlock(dim, heads, max_tokens) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(dim)

    def forward(self, x, caches=None):
        for i, b in enumerate(self.blocks):
            x = b(x, None if caches is None else caches[i])
        return self.ln_f(x)


def _slice(pattern, num_steps, prev_steps):
    """Positions (relative to prev_steps) of the kept tokens, as IRIS's Slicer.compute_slice."""
    bs = len(pattern)
    return torch.tensor([p - prev_steps for p in range(prev_steps, prev_steps + num_steps) if pattern[p % bs]],
                        dtype=torch.long)


class IrisHead(nn.Module):
    def __init__(self, dim, out, pattern, max_blocks):
        super().__init__()
        self.pattern = pattern
        self.head_module = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, out))
        # IRIS registers the kept indices as a buffer; mimic its presence in the state_dict
        idx = [i + len(pattern) * b for b in range(max_blocks) for i in range(len(pattern)) if pattern[i]]
        self.register_buffer("indices", torch.tensor(idx, dtype=torch.long))

    def forward(self, x, num_steps, prev_steps):
        return self.head_module(x[:, _slice(self.pattern, num_steps, prev_steps)])


class IrisEmbedder(nn.Module):
    def __init__(self, dim, act_vocab, obs_vocab, act_pattern, obs_pattern):
        super().__init__()
        self.patterns = [act_pattern, obs_pattern]
        self.embedding_tables = nn.ModuleList([nn.Embedding(act_vocab, dim), nn.Embedding(obs_vocab, dim)])
        self.dim = dim

    def forward(self, tokens, num_steps, prev_steps):
        out = torch.zeros(*tokens.shape, self.dim)
        for pat, emb in zip(self.patterns, self.embedding_tables):
            s = _slice(pat, num_steps, prev_steps)
            out[:, s] = emb(tokens[:, s])
        return out


class IrisWorldModel(nn.Module):
    def __init__(self, obs_vocab, act_vocab, tokens_per_block, max_blocks, layers, heads, dim):
        super().__init__()
        self.tpb, self.max_tokens = tokens_per_block, tokens_per_block * max_blocks
        act = [0] * tokens_per_block
        act[-1] = 1
        obs = [1 - a for a in act]
        all_but_last_obs = [1] * tokens_per_block
        all_but_last_obs[-2] = 0
        self.transformer = IrisTransformer(layers, dim, heads, self.max_tokens)
        self.pos_emb = nn.Embedding(self.max_tokens, dim)
        self.embedder = IrisEmbedder(dim, act_vocab, obs_vocab, act, obs)
        self.head_observations = IrisHead(dim, obs_vocab, all_but_last_obs, max_blocks)
        self.head_rewards = IrisHead(dim, 3, act, max_blocks)
        self.head_ends = IrisHead(dim, 2, act, max_blocks)
        self.obs_head_pattern = all_but_last_obs

    def forward(self, tokens, caches=None):
        n = tokens.shape[1]
        prev = 0 if caches is None or caches[0]["k"].shape[2] == 0 else caches[0]["k"].shape[2]
        x = self.embedder(tokens, n, prev) + self.pos_emb(prev + torch.arange(n))
        x = self.transformer(x, caches)
        return x, self.head_observations(x, n, prev)

    def empty_caches(self, b, heads, dim):
        return [{"k": torch.zeros(b, heads, 0, dim // heads), "v": torch.zeros(b, heads, 0, dim // heads)}
                for _ in self.transformer.blocks]


class IrisAgentLike(nn.Module):
    """tokenizer + world_model (+ a token actor_critic parameter so the agent keys include it)."""

    def __init__(self, tokenizer, world_model):
        super().__init__()
        self.tokenizer = tokenizer
        self.world_model = world_model
        self.actor_critic = nn.Module()
        self.actor_critic.conv1 = nn.Conv2d(3, 4, 3)
