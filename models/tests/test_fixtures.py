"""The committed golden fixtures (tests/fixtures/tiny) are consistent with the reference."""
import os
import unittest

import _path
import numpy as np
import torch
import yaml

from arvideo import card as C
from arvideo import reference as R
from arvideo import safetensors_io as st

FIX = os.path.join(_path.ROOT, "tests", "fixtures", "tiny")


class TestFixtures(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(FIX, "manifest.yaml")) as f:
            cls.manifest = yaml.safe_load(f)

    def test_size(self):
        total = sum(os.path.getsize(os.path.join(FIX, f)) for f in os.listdir(FIX))
        self.assertLess(total, 1 << 20)

    def test_manifest_matches_files(self):
        for case in self.manifest["cases"]:
            C.load_card(os.path.join(FIX, case["card"]))
            io, _ = st.load(os.path.join(FIX, case["io"]))
            self.assertEqual(set(io), set(case["tensors"]))
            for k, d in case["tensors"].items():
                self.assertEqual(list(io[k].shape), d["shape"], k)
                self.assertEqual(st.dtype_name(io[k]), d["dtype"], k)

    @torch.no_grad()
    def test_gpt_case(self):
        case = self.manifest["cases"][0]
        m = R.load_model(os.path.join(FIX, case["card"]))
        io, _ = st.load(os.path.join(FIX, case["io"]))
        lat, tok = m.tokenizer.encode(io["frames"])
        np.testing.assert_allclose(lat.numpy(), io["latents"], atol=1e-5, rtol=1e-5)
        np.testing.assert_array_equal(tok.numpy().astype(np.uint32), io["tokens"])
        tokens = torch.from_numpy(io["tokens"].astype(np.int64))
        acts = torch.from_numpy(io["actions"].astype(np.int64))
        dec = m.tokenizer.decode(tokens)
        np.testing.assert_allclose(dec.numpy(), io["decoded_float"], atol=1e-5, rtol=1e-5)
        np.testing.assert_array_equal(R.float_to_pixels(torch.from_numpy(io["decoded_float"])).numpy(), io["decoded"])
        ctx = tokens.reshape(1, 3, -1)[:, :2]
        logits = m.predictor(ctx, acts[:2].unsqueeze(0))[0]
        np.testing.assert_allclose(logits.numpy(), io["logits"], atol=1e-4, rtol=1e-4)
        nxt = m.predictor.generate_frame((ctx, acts[:1].unsqueeze(0)), acts[1:2], R.greedy)[0]
        np.testing.assert_array_equal(nxt.numpy().astype(np.uint32), io["next_tokens_greedy"])

    @torch.no_grad()
    def test_vq_local_case(self):
        case = self.manifest["cases"][2]
        m = R.load_model(os.path.join(FIX, case["card"]))
        self.assertEqual((m.tokenizer.cfg["norm"], m.tokenizer.cfg["mid_attention"]), ("none", False))
        io, _ = st.load(os.path.join(FIX, case["io"]))
        lat, tok = m.tokenizer.encode(io["frames"])
        np.testing.assert_allclose(lat.numpy(), io["latents"], atol=1e-5, rtol=1e-5)
        np.testing.assert_array_equal(tok.numpy().astype(np.uint32), io["tokens"])
        dec = m.tokenizer.decode(torch.from_numpy(io["tokens"].astype(np.int64)))
        np.testing.assert_allclose(dec.numpy(), io["decoded_float"], atol=1e-5, rtol=1e-5)
        np.testing.assert_array_equal(R.float_to_pixels(dec).numpy(), io["decoded"])

    @torch.no_grad()
    def test_llama_case(self):
        case = self.manifest["cases"][1]
        m = R.load_model(os.path.join(FIX, case["card"]))
        io, _ = st.load(os.path.join(FIX, case["io"]))
        tokens = torch.from_numpy(io["tokens"].astype(np.int64)).unsqueeze(0)
        acts = torch.from_numpy(io["actions"]).unsqueeze(0)
        logits = m.predictor(tokens[:, :2], acts[:, :2])[0]
        np.testing.assert_allclose(logits.numpy(), io["logits"], atol=1e-4, rtol=1e-4)
        nxt = m.predictor.generate_frame((tokens[:, :2], acts[:, :1]), acts[:, 1], R.greedy)[0]
        np.testing.assert_array_equal(nxt.numpy().astype(np.uint32), io["next_tokens_greedy"])


if __name__ == "__main__":
    unittest.main()
