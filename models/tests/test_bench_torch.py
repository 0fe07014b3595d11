"""bench_torch.py, the PyTorch side of tools/arbench: its static step and refresh path against
reference.Rollout on a card with actions added to frames, and its BLAS thread default."""
import os
import subprocess
import sys
import unittest

import _path

SCRIPT = os.path.join(_path.MODELS, "bench_torch.py")
TINY_GPT = os.path.join(_path.ROOT, "tests", "fixtures", "tiny", "tiny-gpt.yaml")


def run(*args, env=None):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                          env=env, timeout=300)


class TestBenchTorch(unittest.TestCase):
    def test_check_static_add_to_frame(self):
        # tiny-gpt adds each frame's leading action to its tokens: the static step and, under
        # refresh, frames appended to a kept cache must get it as reference.Rollout does.
        for context in ("slide", "refresh"):
            r = run("--check-static", "--context", context, TINY_GPT)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("static step", r.stdout)
        self.assertIn("eager appended generate (refresh, 6 frames) matches", r.stdout)

    def test_one_blas_thread_by_default(self):
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
        r = run("--frames", "1", "--warmup", "0", TINY_GPT, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("OPENBLAS_NUM_THREADS=1,", r.stdout)
        env["OPENBLAS_NUM_THREADS"] = "2"
        r = run("--frames", "1", "--warmup", "0", TINY_GPT, env=env)
        self.assertIn("OPENBLAS_NUM_THREADS=2,", r.stdout)
        self.assertIn("torch_fps=", r.stdout)


if __name__ == "__main__":
    unittest.main()
