"""Reference model behaviour: KV cache == full forward, rollout, shapes/keys, conventions."""
import copy
import unittest

import _path  # noqa: F401
import torch

from arvideo import export
from arvideo import reference as R

GPT = {
    "format": 1, "name": "g", "weights": "g.safetensors",
    "tokenizer": {"kind": "vq", "resolution": [16, 16], "in_channels": 3,
                  "encoder": {"channels": 8, "channel_mult": [1, 2], "res_blocks": 1, "attn_resolutions": [8],
                              "z_channels": 8},
                  "codebook": {"size": 16, "dim": 4}, "norm_groups": 4},
    "predictor": {"kind": "gpt", "layers": 2, "dim": 16, "heads": 2, "context_frames": 3, "tokens_per_frame": 64,
                  "vocab": 16, "action": {"kind": "discrete", "count": 3}},
}
LLAMA = {
    "format": 1, "name": "l", "weights": "l.safetensors",
    "predictor": {"kind": "llama", "layers": 2, "dim": 16, "heads": 2, "context_frames": 3, "tokens_per_frame": 5,
                  "vocab": 11, "action": {"kind": "continuous", "dim": 2}, "mlp_hidden": 24},
}


def _model(card, seed=0):
    m = R.build_model(card)
    export.random_init(m, seed)
    return m


class TestKeys(unittest.TestCase):
    def test_gpt_tokenizer_keys(self):
        keys = set(R.build_model(GPT).state_dict())
        for k in ["tokenizer.encoder.conv_in.weight", "tokenizer.encoder.down.0.block.0.norm1.weight",
                  "tokenizer.encoder.down.0.downsample.conv.weight", "tokenizer.encoder.down.1.block.0.nin_shortcut.weight",
                  "tokenizer.encoder.down.1.attn.0.q.weight", "tokenizer.encoder.down.1.attn.0.proj_out.bias",
                  "tokenizer.encoder.mid.block_1.conv2.bias", "tokenizer.encoder.mid.attn_1.norm.weight",
                  "tokenizer.encoder.norm_out.bias", "tokenizer.encoder.conv_out.weight", "tokenizer.pre_quant_conv.weight",
                  "tokenizer.codebook.weight", "tokenizer.post_quant_conv.bias", "tokenizer.decoder.conv_in.weight",
                  "tokenizer.decoder.up.1.block.1.conv1.weight", "tokenizer.decoder.up.1.attn.1.k.weight",
                  "tokenizer.decoder.up.1.upsample.conv.weight", "tokenizer.decoder.up.0.block.0.nin_shortcut.weight",
                  "tokenizer.decoder.norm_out.weight", "tokenizer.decoder.conv_out.bias",
                  "predictor.tok_emb.weight", "predictor.act_emb.weight", "predictor.pos_emb.weight",
                  "predictor.blocks.1.ln1.bias", "predictor.blocks.1.attn.qkv.weight", "predictor.blocks.1.attn.proj.bias",
                  "predictor.blocks.1.mlp.fc1.weight", "predictor.blocks.1.mlp.fc2.bias", "predictor.ln_f.weight",
                  "predictor.head.weight", "predictor.head.bias"]:
            self.assertIn(k, keys)
        self.assertNotIn("tokenizer.encoder.down.1.downsample.conv.weight", keys)
        self.assertNotIn("tokenizer.decoder.up.0.upsample.conv.weight", keys)
        self.assertNotIn("tokenizer.encoder.down.0.attn.0.q.weight", keys)      # level 0 is 16x16: no attn
        self.assertNotIn("tokenizer.decoder.up.1.block.2.conv1.weight", keys)   # res_blocks + 1 per level
        self.assertNotIn("tokenizer.encoder.down.0.block.1.conv1.weight", keys)
        sd = R.build_model(GPT).state_dict()
        self.assertEqual(tuple(sd["predictor.pos_emb.weight"].shape), (3 * 65, 16))
        self.assertEqual(tuple(sd["predictor.blocks.0.attn.qkv.weight"].shape), (48, 16))
        self.assertEqual(tuple(sd["tokenizer.codebook.weight"].shape), (16, 4))

    def test_local_tokenizer_keys(self):
        card = copy.deepcopy(GPT)
        card["tokenizer"].update(norm="none", mid_attention=False, norm_groups=3)
        keys = set(R.build_model(card).state_dict())
        self.assertEqual([k for k in keys if "norm" in k or "mid.attn" in k], [])
        self.assertIn("tokenizer.encoder.down.1.attn.0.q.weight", keys)   # level attention stays
        self.assertIn("tokenizer.decoder.mid.block_2.conv2.weight", keys)
        card["tokenizer"].update(norm="group", mid_attention=True, norm_groups=4)
        self.assertIn("tokenizer.encoder.mid.attn_1.q.weight", set(R.build_model(card).state_dict()))

    def test_iris_head_and_llama_keys(self):
        c = copy.deepcopy(GPT)
        c["predictor"]["head_hidden"] = 16
        keys = set(R.build_model(c).state_dict())
        self.assertTrue({"predictor.head.fc1.weight", "predictor.head.fc2.bias"} <= keys)
        keys = set(R.build_model(LLAMA).state_dict())
        self.assertEqual(keys, {
            "predictor.tok_emb.weight", "predictor.sep_emb", "predictor.act_proj.weight", "predictor.act_proj.bias",
            "predictor.norm_f.weight", "predictor.head.weight",
            *["predictor.blocks.%d.%s" % (i, n) for i in range(2) for n in (
                "norm1.weight", "attn.qkv.weight", "attn.proj.weight", "norm2.weight",
                "mlp.gate.weight", "mlp.up.weight", "mlp.down.weight")]})


class TestPredictors(unittest.TestCase):
    def _check_cache(self, card, actions_fn):
        m = _model(card)
        p = m.predictor
        g = torch.Generator().manual_seed(3)
        T = p.T
        tokens = torch.randint(0, card["predictor"]["vocab"], (2, 3, T), generator=g)
        actions = actions_fn(g)
        with torch.no_grad():
            full = p(tokens, actions[:, :2])                 # 3 frames, 2 actions: 3T + 2 positions
            self.assertEqual(full.shape, (2, 3 * T + 2, card["predictor"]["vocab"]))
            cache = p.new_cache(2)
            pre = p.prefill(tokens[:, :1], actions[:, :1], cache)   # frame 0 + action 0
            torch.testing.assert_close(pre, full[:, :T + 1], atol=1e-5, rtol=1e-5)
            steps = []
            for j in range(T):
                steps.append(p.step_token(tokens[:, 1, j], cache))
            steps.append(p.step_action(actions[:, 1], cache))
            for j in range(T):
                steps.append(p.step_token(tokens[:, 2, j], cache))
            inc = torch.stack(steps, dim=1)
            torch.testing.assert_close(inc, full[:, T + 1:], atol=1e-5, rtol=1e-5)
            self.assertEqual(cache.length, 3 * T + 2)
            # causality: changing a later token does not change earlier logits
            t2 = tokens.clone()
            t2[:, 2, 3] = (t2[:, 2, 3] + 1) % card["predictor"]["vocab"]
            full2 = p(t2, actions[:, :2])
            pos = 2 * (T + 1) + 3
            torch.testing.assert_close(full2[:, :pos], full[:, :pos])
            self.assertFalse(torch.allclose(full2[:, pos:], full[:, pos:]))
            # generate_frame (cache) == argmax over the full forward of the generated sequence
            nxt = p.generate_frame((tokens[:, :2], actions[:, :1]), actions[:, 1], R.greedy)
            seq = torch.cat([tokens[:, :2], nxt.unsqueeze(1)], dim=1)
            f = p(seq, actions[:, :2])
            self.assertEqual(nxt.tolist(), f[:, 2 * (T + 1) - 1: 2 * (T + 1) - 1 + T].argmax(-1).tolist())

    def test_gpt_kv_cache(self):
        self._check_cache(GPT, lambda g: torch.randint(0, 3, (2, 3), generator=g))

    def test_gpt_tanh_iris_head_kv_cache(self):
        c = copy.deepcopy(GPT)
        c["predictor"].update(gelu="tanh", head_hidden=8, norm_eps=1e-6)
        self._check_cache(c, lambda g: torch.randint(0, 3, (2, 3), generator=g))

    def test_llama_kv_cache(self):
        self._check_cache(LLAMA, lambda g: torch.randn(2, 3, 2, generator=g))

    def test_llama_discrete(self):
        c = copy.deepcopy(LLAMA)
        c["predictor"]["action"] = {"kind": "discrete", "count": 4}
        self._check_cache(c, lambda g: torch.randint(0, 4, (2, 3), generator=g))

    def test_sequence_layout(self):
        m = _model(GPT)
        p = m.predictor
        tokens = torch.randint(0, 16, (1, 2, 64))
        acts = torch.tensor([[2, 1]])
        x = p.embed_sequence(tokens, acts)
        self.assertEqual(x.shape, (1, 130, 16))
        torch.testing.assert_close(x[0, 64], p.act_emb.weight[2])
        torch.testing.assert_close(x[0, 65], p.tok_emb.weight[tokens[0, 1, 0]])
        torch.testing.assert_close(x[0, 129], p.act_emb.weight[1])
        lm = _model(LLAMA).predictor
        a = torch.tensor([[[0.5, -1.0]]])
        x = lm.embed_sequence(torch.zeros(1, 1, 5, dtype=torch.long), a)
        torch.testing.assert_close(x[0, 5], lm.sep_emb + lm.act_proj(a[0, 0]))

    def test_rope_relative(self):
        """Rotary: q.k depends only on the position difference."""
        hd = 8
        q, k = torch.randn(1, 1, 1, hd), torch.randn(1, 1, 1, hd)

        def dot(pq, pk):
            cq, sq = R.rope_cos_sin(torch.tensor([pq]), hd, 10000.0, torch.float32, None)
            ck, sk = R.rope_cos_sin(torch.tensor([pk]), hd, 10000.0, torch.float32, None)
            return float((R.apply_rope(q, cq, sq) * R.apply_rope(k, ck, sk)).sum())
        self.assertAlmostEqual(dot(5, 2), dot(13, 10), places=4)
        cos, sin = R.rope_cos_sin(torch.tensor([0]), hd, 10000.0, torch.float32, None)
        torch.testing.assert_close(R.apply_rope(q, cos, sin), q)

    def test_rollout_window(self):
        """A long rollout slides the window: each step equals a fresh generate_frame on the
        last context_frames-1 frames."""
        p = _model(GPT).predictor
        g = torch.Generator().manual_seed(9)
        tokens = torch.randint(0, 16, (1, 1, 64), generator=g)
        acts = torch.randint(0, 3, (1, 6), generator=g)
        ro = R.Rollout(p, tokens, acts[:, :0])
        frames = [tokens[:, 0]]
        for i in range(5):
            new = ro.step(acts[:, i])
            ctx = torch.stack(frames[-2:], dim=1)
            ref = p.generate_frame((ctx, acts[:, max(0, i - 1):i]), acts[:, i])
            self.assertEqual(new.tolist(), ref.tolist(), "step %d" % i)
            frames.append(new)

    def test_rollout_refresh(self):
        """policy="refresh" appends until the window is full, then restarts from the last frame:
        each step equals a fresh generate_frame on the segment's frames (with context_frames 3:
        1, 2, 1, 2, ... frames), and differs from "slide" once their windows differ."""
        p = _model(GPT).predictor
        self.assertEqual(p.cfg["context_frames"], 3)
        g = torch.Generator().manual_seed(9)
        tokens = torch.randint(0, 16, (1, 1, 64), generator=g)
        acts = torch.randint(0, 3, (1, 6), generator=g)
        ro = R.Rollout(p, tokens, acts[:, :0], policy="refresh")
        sl = R.Rollout(p, tokens, acts[:, :0])
        frames, seg, differ = [tokens[:, 0]], 1, 0
        for i in range(5):
            new = ro.step(acts[:, i])
            differ += new.tolist() != sl.step(acts[:, i]).tolist()
            ctx = torch.stack(frames[-seg:], dim=1)
            ref = p.generate_frame((ctx, acts[:, i - seg + 1:i]), acts[:, i])
            self.assertEqual(new.tolist(), ref.tolist(), "step %d" % i)
            frames.append(new)
            seg = seg + 1 if seg + 1 <= 2 else 1
        self.assertGreater(differ, 0)
        with self.assertRaises(ValueError):
            R.Rollout(p, tokens, acts[:, :0], policy="window")

    def test_sampler(self):
        logits = torch.tensor([[0.0, 5.0, 1.0], [3.0, 3.0, -1.0]])
        self.assertEqual(R.greedy(logits).tolist(), [1, 0])          # ties -> lowest index
        s = R.Sampler(temperature=1.0, top_k=1, generator=torch.Generator().manual_seed(0))
        self.assertEqual(s(logits)[0].item(), 1)
        self.assertEqual(R.Sampler(temperature=0)(logits).tolist(), [1, 0])


class TestTokenizer(unittest.TestCase):
    def test_pixels(self):
        u = torch.tensor([[[[0, 127, 128, 255]]]], dtype=torch.uint8).permute(0, 1, 3, 2)  # [1,1,4,1] NHWC
        x = R.pixels_to_float(u)
        torch.testing.assert_close(x.flatten(), torch.tensor([-1.0, 127 / 127.5 - 1, 128 / 127.5 - 1, 1.0]))
        back = R.float_to_pixels(x)
        self.assertEqual(back.flatten().tolist(), [0, 127, 128, 255])
        y = torch.tensor([-3.0, 3.0, 0.0, -1 + 0.5 / 127.5]).reshape(1, 1, 1, 4)
        self.assertEqual(R.float_to_pixels(y).flatten().tolist(), [0, 255, 128, 1])

    def test_encode_decode_shapes_and_float_input(self):
        m = _model(GPT)
        tok = m.tokenizer
        frames = export._smooth_frames(2, 16, 16, 3, torch.Generator().manual_seed(1))
        with torch.no_grad():
            z, t = tok.encode(frames)
            z2, t2 = tok.encode(R.pixels_to_float(frames))
            self.assertEqual(z.shape, (2, 4, 8, 8))
            self.assertEqual(t.shape, (2, 8, 8))
            torch.testing.assert_close(z, z2)
            self.assertEqual(t.tolist(), t2.tolist())
            y = tok.decode(t)
            self.assertEqual(y.shape, (2, 3, 16, 16))
            self.assertEqual(tok.decode_pixels(t).shape, (2, 16, 16, 3))
            self.assertEqual(tok.decode(t.reshape(2, 64)).shape, (2, 3, 16, 16))

    def test_nearest_code_ties(self):
        cb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
        z = torch.tensor([0.5, 0.5]).reshape(1, 2, 1, 1)
        t, _ = R.nearest_code(z, cb)
        self.assertEqual(t.item(), 0)
        t, _ = R.nearest_code(torch.tensor([0.9, 0.1]).reshape(1, 2, 1, 1), cb[[1, 2, 0]])
        self.assertEqual(t.item(), 1)

    def test_gray_nonsquare(self):
        c = copy.deepcopy(GPT)
        del c["predictor"]
        c["tokenizer"].update(resolution=[16, 32], in_channels=1)
        m = _model(c)
        with torch.no_grad():
            z, t = m.tokenizer.encode(torch.zeros(1, 16, 32, 1, dtype=torch.uint8))
            self.assertEqual(t.shape, (1, 8, 16))
            self.assertEqual(m.tokenizer.decode_pixels(t).shape, (1, 16, 32, 1))

class TestLocalTokenizer(unittest.TestCase):
    """Without GroupNorm and mid attention a pixel only reaches the latents within the encoder's
    receptive field; with them (statistics over the whole image) it reaches every latent."""

    @torch.no_grad()
    def test_pixel_change_stays_local(self):
        card = copy.deepcopy(GPT)
        del card["predictor"]
        card["tokenizer"].update(resolution=[32, 32])
        card["tokenizer"]["encoder"]["attn_resolutions"] = []
        far = {}
        for norm, mid in (("none", False), ("group", True)):
            card["tokenizer"].update(norm=norm, mid_attention=mid)
            m = _model(card, seed=1)
            x = torch.full((1, 32, 32, 3), 100, dtype=torch.uint8)
            y = x.clone()
            y[0, 0, 0] = 255
            za, zb = m.tokenizer.encode(x)[0], m.tokenizer.encode(y)[0]
            far[norm] = (za[..., 12:, 12:] - zb[..., 12:, 12:]).abs().max().item()
            self.assertGreater((za - zb).abs().max().item(), 0.0)
        self.assertEqual(far["none"], 0.0)     # grid cells 12..15 start 24 pixels away
        self.assertGreater(far["group"], 0.0)


if __name__ == "__main__":
    unittest.main()
