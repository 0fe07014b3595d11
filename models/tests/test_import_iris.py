"""IRIS conversion parity: a tiny IRIS-shaped agent (tests/iris_like.py, IRIS key names) is
converted with import_iris.py and our reference must reproduce its tokens, decoded frames and
observation logits (full sequence and incremental greedy rollout)."""

import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import import_iris  # noqa: E402
from arvideo import card as cardmod  # noqa: E402
from arvideo import export  # noqa: E402
from arvideo import reference as R  # noqa: E402
from iris_like import IrisAgentLike, IrisTokenizer, IrisWorldModel  # noqa: E402

RES = 16
ENC = dict(resolution=RES, in_channels=3, z_channels=16, ch=16, ch_mult=[1, 1, 2], num_res_blocks=1,
           attn_resolutions=[8])
GROUPS = 8
VOCAB, EMBED = 32, 8
TPB, MAX_BLOCKS, LAYERS, HEADS, DIM, ACTS = 17, 3, 2, 2, 32, 5


@torch.no_grad()
def _init(agent, gen):
    for name, p in agent.named_parameters():
        if p.dim() >= 2 and "emb" not in name:
            p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) / (p[0].numel() ** 0.5) * 1.7)
        elif p.dim() >= 2:
            p.copy_(torch.randn(p.shape, generator=gen))
        elif name.endswith("weight"):
            p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
        else:
            p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    # codebook from latents of synthetic frames, so that tokens are diverse
    frames = export._smooth_frames(8, RES, RES, 3, gen)
    x01 = frames.permute(0, 3, 1, 2).float() / 255.0
    z, _, _ = agent.tokenizer.encode(x01)
    flat = z.permute(0, 2, 3, 1).reshape(-1, EMBED)
    idx = torch.randperm(flat.shape[0], generator=gen)[:VOCAB]
    agent.tokenizer.embedding.weight.copy_(flat[idx] + 0.3 * flat.std() * torch.randn(VOCAB, EMBED, generator=gen))


class TestImportIris(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(1234)
        tok = IrisTokenizer(VOCAB, EMBED, ENC, GROUPS)
        wm = IrisWorldModel(VOCAB, ACTS, TPB, MAX_BLOCKS, LAYERS, HEADS, DIM)
        cls.iris = IrisAgentLike(tok, wm).eval()
        _init(cls.iris, gen)
        sd = dict(cls.iris.state_dict())
        # an IRIS checkpoint also carries the LPIPS network: the converter must skip it
        sd["tokenizer.lpips.net.slice1.0.weight"] = torch.zeros(4, 3, 3, 3)
        sd["tokenizer.lpips.lin0.model.1.weight"] = torch.zeros(1, 4, 1, 1)
        cls.tmp = tempfile.TemporaryDirectory()
        ckpt = os.path.join(cls.tmp.name, "agent.pt")
        torch.save(sd, ckpt)
        cls.card_path = os.path.join(cls.tmp.name, "iris-tiny.yaml")
        import_iris.main([ckpt, cls.card_path, "--resolution", str(RES), "--heads", str(HEADS),
                          "--norm-groups", str(GROUPS)])
        cls.ours = R.load_model(cls.card_path)
        cls.frames = export._smooth_frames(3, RES, RES, 3, torch.Generator().manual_seed(7))
        cls.sd = sd

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_card(self):
        c = cardmod.load_card(self.card_path)
        t, p = c["tokenizer"], c["predictor"]
        self.assertEqual(t["encoder"], {"channels": 16, "channel_mult": [1, 1, 2], "res_blocks": 1,
                                        "attn_resolutions": [8], "z_channels": 16})
        self.assertEqual(t["decoder"], t["encoder"])
        self.assertEqual(t["codebook"], {"size": VOCAB, "dim": EMBED})
        self.assertEqual((p["layers"], p["dim"], p["heads"], p["context_frames"], p["tokens_per_frame"]),
                         (LAYERS, DIM, HEADS, MAX_BLOCKS, TPB - 1))
        self.assertEqual(p["action"], {"kind": "discrete", "count": ACTS})
        self.assertEqual((p["head_hidden"], p["mlp_hidden"], p["gelu"], p["norm_eps"]), (DIM, 4 * DIM, "erf", 1e-5))
        notes = " ".join(c["training"]["notes"])
        for word in ("lpips", "head_rewards", "head_ends", "actor_critic"):
            self.assertIn(word, notes)

    def test_skipped_keys(self):
        _, skipped = import_iris.convert_state_dict(self.sd)
        s = " ".join(skipped)
        for word in ("tokenizer.lpips.", "head_rewards.", "head_ends.", "actor_critic.", "attn.mask",
                     "head_observations.indices"):
            self.assertIn(word, s)

    @torch.no_grad()
    def test_tokens_and_latents(self):
        x01 = self.frames.permute(0, 3, 1, 2).float() / 255.0       # IRIS: to_tensor -> [0, 1]
        z_i, _, tok_i = self.iris.tokenizer.encode(x01)
        z_o, tok_o = self.ours.tokenizer.encode(self.frames)         # ours: uint8 NHWC
        self.assertEqual(tok_o.reshape(3, -1).tolist(), tok_i.tolist())
        self.assertTrue(torch.allclose(z_o, z_i, atol=1e-4, rtol=1e-4), float((z_o - z_i).abs().max()))
        self.assertGreater(len(set(tok_i.flatten().tolist())), 8)    # a meaningful test: diverse tokens

    @torch.no_grad()
    def test_decode(self):
        _, zq, tok = self.iris.tokenizer.encode(self.frames.permute(0, 3, 1, 2).float() / 255.0)
        rec_i = self.iris.tokenizer.decode(zq)                        # [0, 1] (unclamped)
        rec_o = (self.ours.tokenizer.decode(tok.reshape(3, 4, 4)) + 1) / 2
        self.assertTrue(torch.allclose(rec_o, rec_i, atol=1e-4), float((rec_o - rec_i).abs().max()))
        # pixels: IRIS truncates clamp(rec,0,1)*255, we round; they differ by at most 1
        px_i = (rec_i.clamp(0, 1) * 255).to(torch.uint8).permute(0, 2, 3, 1).int()
        px_o = self.ours.tokenizer.decode_pixels(tok.reshape(3, 4, 4)).int()
        self.assertLessEqual(int((px_i - px_o).abs().max()), 1)

    def _sequence(self):
        _, _, tok = self.iris.tokenizer.encode(self.frames.permute(0, 3, 1, 2).float() / 255.0)
        acts = torch.tensor([[3, 1, 4]])
        seq = torch.cat([tok.unsqueeze(0), acts.unsqueeze(-1)], dim=2).reshape(1, -1)   # IRIS layout
        return tok.unsqueeze(0), acts, seq

    @torch.no_grad()
    def test_logits_full_sequence(self):
        tok, acts, seq = self._sequence()
        _, logits_i = self.iris.world_model(seq)
        logits_o = self.ours.predictor(tok, acts)
        self.assertEqual(logits_o.shape, (1, seq.shape[1], VOCAB))
        keep = [p for p in range(seq.shape[1]) if self.iris.world_model.obs_head_pattern[p % TPB]]
        self.assertEqual(len(keep), logits_i.shape[1])
        diff = (logits_o[:, keep] - logits_i).abs().max()
        self.assertLess(float(diff), 1e-4)
        self.assertGreater(float(logits_i.std()), 0.1)

    @torch.no_grad()
    def test_incremental_greedy_rollout(self):
        """IRIS WorldModelEnv-style rollout (obs tokens, then action, then one token at a time with a
        KV cache, greedy) == our generate_frame with a greedy sampler."""
        tok, acts, _ = self._sequence()
        wm = self.iris.world_model
        caches = wm.empty_caches(1, HEADS, DIM)
        wm(tok[:, 0], caches)
        token = acts[:, :1]
        gen_i = []
        for k in range(1 + 16):
            _, lo = wm(token, caches)
            if k < 16:
                token = lo.argmax(-1)
                gen_i.append(token)
        gen_i = torch.cat(gen_i, dim=1)
        gen_o = self.ours.predictor.generate_frame((tok[:, :1], acts[:, :0]), acts[:, 0], R.greedy)
        self.assertEqual(gen_o.tolist(), gen_i.tolist())


if __name__ == "__main__":
    unittest.main()
