"""The PyTorch side of tools/arbench: the same streaming loop at batch 1 on the reference model.

    /usr/bin/python3 models/bench_torch.py [--frames N] [--warmup W] [--seed S] [--device cpu|cuda] CARD

Per frame: encode a synthetic moving frame (the same formula as arbench), commit its tokens and
an action to the history, generate the next frame's tokens (temperature 1) with a KV cache after
the last context_frames - 1 frames (reference.Rollout's window: one prefill, then one step per
token), decode to pixels.  The context is filled first with context_frames - 1 frames of random
tokens, so every timed frame is the steady state.  With --context refresh the window is IRIS's
instead: the cache keeps the frames since the segment began and each frame appends its own
(prefilling T + 1 positions); when the window would overflow it restarts from the newest frame.  Prints `torch_stage NAME MEDIAN_MS P90_MS`
per stage and `torch_fps=`.

CPU: fp32, torch.set_num_threads(2) (override with --threads), and OpenBLAS on one thread
(OPENBLAS_NUM_THREADS=1 unless set).  Debian's torch calls the system BLAS, by default OpenBLAS's
pthread build, whose own thread pool spins beside PyTorch's OpenMP threads: on a 2-core machine
the two pools take the cores from each other.  iris-small, 4 alternating pairs: frame 317-703
ms with the default, 215-322 with one BLAS thread (OpenBLAS's OpenMP build, which shares
PyTorch's pool, measured the same as the latter: 192-320).  Which BLAS serves the products
is printed on the torch_info line with its 512x512 sgemm rate; the netlib reference BLAS
(Debian's libblas3, what apt installs with python3-torch when no other BLAS is present) is
refused unless --allow-reference-blas: it made PyTorch's iris-small frame ~13x slower (1024^2
sgemm 2.5 against 112 GFLOP/s with OpenBLAS, same machine), so any ratio against it is void.
CUDA: fp16 weights and activations, the prefill eager, and the one-token step (GPT predictors)
captured once as a CUDA graph that reads the token and the position from device tensors and
samples on the device (Gumbel-max, the same distribution as multinomial at temperature 1), so a
frame's T - 1 steps are T - 1 graph replays with no host sync.  If the capture fails the same
static step runs eagerly (reported on a torch_info line).  --check-static compares the static
step with the reference's step_token (greedy tokens must match) on the chosen device.

Quantization uses argmin(|e|^2 - 2 z.e) in the model's precision, as IRIS does, instead of the
reference's float64 distance tensor (which is a correctness oracle, not what anyone would time)."""

import argparse
import math
import os
import re
import sys
import time

# Before numpy and torch load OpenBLAS, which reads it once (see the docstring).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from arvideo import reference as R  # noqa: E402


def blas_libraries():
    """The BLAS libraries this process has mapped (real paths), from /proc/self/maps."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 6 and re.search(r"blas|blis|mkl_|atlas", os.path.basename(fields[5])):
                    libs.add(os.path.realpath(fields[5]))
    except OSError:
        pass
    return sorted(libs)


def blas_report():
    """(description, is_reference): the BLAS in use and its 512x512 sgemm rate."""
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    times = []
    for i in range(7):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    gflops = 2 * 512 ** 3 / sorted(times[2:])[2] / 1e9
    libs = blas_libraries()
    # Debian's netlib reference implementation lives in .../blas/ (OpenBLAS in openblas-*/).
    # Mapped at all, it is the libblas.so.3 that torch's sgemm_ resolves to (OpenBLAS may be
    # mapped beside it, through liblapack.so.3).
    reference = any(re.search(r"/blas/libblas\.so", l) for l in libs)
    names = ",".join(libs) if libs else "none mapped (MKL/oneDNN inside torch?)"
    return "blas %s (sgemm 512: %.1f GFLOP/s)" % (names, gflops), reference


def synth_frame(w, h, t):
    """As arbench's synth_frame: uint8 [1, h, w, 3]."""
    y, x = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    out = np.empty((h, w, 3), dtype=np.uint8)
    for c in range(3):
        v = (np.sin(2 * np.pi * ((x + 2.0 * t) / w * (1 + c) + 0.1 * c))
             * np.cos(2 * np.pi * ((y + 1.0 * t) / h * (2 - 0.5 * c))))
        out[:, :, c] = np.floor((v + 1) * 127.5 + 0.5).astype(np.uint8)
    return out[None]


def encode(tok, frame):
    x = R.pixels_to_float(torch.from_numpy(frame)).to(tok.codebook.weight.device, tok.codebook.weight.dtype)
    z = tok.pre_quant_conv(tok.encoder(x))                       # [1, D, h, w]
    zf = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
    e = tok.codebook.weight
    d = (e * e).sum(1)[None, :] - 2 * zf @ e.t()
    return torch.argmin(d.float(), dim=1)                        # [T]


class StaticStep:
    """One GPT token step over a fixed-size KV cache with the token and position in device
    tensors: no shape or host value changes between calls, so it can be a CUDA graph."""

    def __init__(self, pred, cache, device):
        self.p, self.cache = pred, cache
        self.tok = torch.zeros(1, dtype=torch.int64, device=device)
        self.pos = torch.zeros(1, dtype=torch.int64, device=device)
        self.k = torch.zeros(1, dtype=torch.int64, device=device)   # output slot
        self.out = torch.zeros(pred.T, dtype=torch.int64, device=device)
        self.kpos = torch.arange(cache.max_len, device=device)
        # add_to_frame: the vector of the action that led to the frame being generated, added
        # to each of its tokens (reference step_token's led_by); set per frame.
        self.led = torch.zeros(1, 1, pred.cfg["dim"], device=device, dtype=pred.tok_emb.weight.dtype)
        self.greedy = False
        self.graph = None

    def sample(self, logits):
        l = logits.float()
        if self.greedy:
            return torch.argmax(l, dim=-1)
        u = torch.rand(l.shape, device=l.device).clamp_(min=1e-20, max=1 - 1e-7)
        return torch.argmax(l - torch.log(-torch.log(u)), dim=-1)

    def emit(self, tok):
        """Stores a sampled token [1] as output self.k and as the next step's input."""
        self.out.index_copy_(0, self.k, tok)
        self.k += 1
        self.tok.copy_(tok)

    def body(self):
        p = self.p
        d, H = p.cfg["dim"], p.cfg["heads"]
        hd = d // H
        x = (p.tok_emb(self.tok) + p.pos_emb(self.pos)).unsqueeze(0)     # [1, 1, d]
        if p.add_to_frame:
            x = x + self.led
        keep = (self.kpos <= self.pos).view(1, 1, 1, -1)
        for i, blk in enumerate(p.blocks):
            q, k, v = blk.attn.qkv(blk.ln1(x)).split(d, dim=-1)
            q, k, v = (y.reshape(1, 1, H, hd).transpose(1, 2) for y in (q, k, v))
            self.cache.k[i].index_copy_(2, self.pos, k)
            self.cache.v[i].index_copy_(2, self.pos, v)
            att = torch.matmul(q, self.cache.k[i].transpose(-2, -1)).float() * (1.0 / math.sqrt(hd))
            att = torch.softmax(att.masked_fill(~keep, float("-inf")), dim=-1).to(q.dtype)
            o = torch.matmul(att, self.cache.v[i])
            x = x + blk.attn.proj(o.transpose(1, 2).reshape(1, 1, d))
            x = x + blk.mlp(blk.ln2(x))
        logits = p.head(p.ln_f(x))[:, -1]
        self.emit(self.sample(logits))
        self.pos += 1

    def capture(self):
        """CUDA graph of body(); warms up on a side stream first (as torch requires)."""
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                self.body()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            self.body()
        torch.cuda.synchronize()
        self.graph = g

    def run(self):
        if self.graph is not None:
            self.graph.replay()
        else:
            self.body()


def generate_static(step, tokens, actions, action, start=0, led_by=None):
    """reference.Rollout's first step (prefill of the window, then T - 1 token steps) on the
    static cache; tokens [1, n, T], actions [1, n-1], action [1].  start: positions of the
    cache kept before them (the refresh policy's earlier frames of the segment); led_by: the
    action after the last of those (reference prefill's)."""
    p, cache = step.p, step.cache
    cache.length = start
    logits = p.prefill(tokens, torch.cat([actions, action[:, None]], dim=1), cache, led_by)[:, -1]
    step.k.zero_()
    step.pos.fill_(cache.length)
    if p.add_to_frame:
        step.led.copy_(p._action_vector(action).view(1, 1, -1))
    step.emit(step.sample(logits))
    for _ in range(p.T - 1):
        step.run()
    return step.out


def generate_appended(pred, cache, tokens, actions, start, sampler, led_by=None):
    """The refresh policy's generate on the reference model: frames tokens [1, n, T] with their
    actions [1, n] (the last: the action taken at the newest frame) prefilled after the cache's
    first `start` positions (led_by: reference prefill's), then T tokens sampled with T - 1 token
    steps."""
    cache.length = start
    logits = pred.prefill(tokens, actions, cache, led_by)[:, -1]
    out = []
    for k in range(pred.T):
        tok = sampler(logits)
        out.append(tok)
        if k + 1 < pred.T:
            logits = pred.step_token(tok, cache, actions[:, -1])
    return torch.stack(out, dim=1)[0]


class Segment:
    """The refresh policy's bookkeeping (as the C predictor's): the segment's frames are the
    last `frames` of the history, the cache holds the first `cached` of them (each tokens +
    action). After the window's fill none ran: the first frame restarts the segment."""

    def __init__(self, C, T):
        self.C, self.T, self.frames, self.cached = C, T, C - 1, 0

    def commit(self):
        """One more frame: returns how many of the last frames to prefill and at which cache
        position, and counts them cached."""
        self.frames += 1
        if self.frames > self.C - 1:   # the window would overflow: restart from the newest
            self.frames, self.cached = 1, 0
        new, start = self.frames - self.cached, self.cached * (self.T + 1)
        self.cached = self.frames
        return new, start


def check_static_refresh(step, hist_t, hist_a, action_at, rng, check_eager):
    """The refresh loop's generates on the static step (cache kept, new frames appended,
    restarted when full), greedy, over context_frames + 3 frames: each must equal
    reference.Rollout over the segment's frames alone.  With check_eager (CPU, where it is
    what gets timed) so must the eager path's, generate_appended()."""
    pred = step.p
    T, C = pred.T, pred.cfg["context_frames"]
    segment, ok, differ = Segment(C, T), True, 0
    eager_cache, eager_differ = pred.new_cache(1, device=hist_t[0].device), 0
    for f in range(C + 3):
        tok = torch.randint(0, pred.cfg["vocab"], (T,), generator=rng).to(hist_t[0].device)
        hist_t = (hist_t + [tok])[-C:]
        hist_a = (hist_a + [action_at(f)])[-C:]
        new, start = segment.commit()
        ctx = torch.stack(hist_t[-new:])[None]
        acts = torch.stack(hist_a[-new:], dim=1)
        led_by = hist_a[-new - 1] if start > 0 else None
        got = generate_static(step, ctx, acts[:, :-1], acts[:, -1], start, led_by).clone()
        seg = segment.frames
        seg_t = torch.stack(hist_t[-seg:])[None]
        seg_a = torch.stack(hist_a[-seg:], dim=1)
        want = R.Rollout(pred, seg_t, seg_a[:, :-1]).step(seg_a[:, -1], R.greedy)[0]
        same = torch.equal(want.cpu(), got.cpu())
        ok = ok and same
        eager = generate_appended(pred, eager_cache, ctx, acts, start, R.greedy,
                                  led_by) if check_eager else want
        if not torch.equal(want.cpu(), eager.cpu()):
            eager_differ += int((want.cpu() != eager.cpu()).sum())
            print("frame %d (segment of %d): eager %s, reference %s" % (f, seg, eager.tolist(),
                  want.tolist()))
        if not same:
            # fp16 on CUDA: a near-tie between the two orders of sums can flip a greedy token
            # and what follows it; the count says whether that or a bug is the cause.
            differ += int((want.cpu() != got.cpu()).sum())
            print("frame %d (segment of %d): static %s, reference %s" % (f, seg, got.tolist(),
                  want.tolist()))
    if check_eager:
        print("eager appended generate (refresh, %d frames) %s the reference%s" % (
              C + 3, "DIFFERS from" if eager_differ else "matches",
              " (%d of %d tokens)" % (eager_differ, (C + 3) * T) if eager_differ else ""))
    print("static step (refresh, %d frames) %s the reference%s" % (C + 3, "matches" if ok else
          "DIFFERS from", "" if ok else " (%d of %d tokens)" % (differ, (C + 3) * T)))
    return ok and eager_differ == 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("card")
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-graphs", action="store_true", help="CUDA: eager token steps")
    ap.add_argument("--context", choices=["slide", "refresh"], default="slide",
                    help="slide: each frame re-prefills the last context_frames - 1 frames "
                    "(reference.Rollout); refresh: IRIS's cache, new frames appended and "
                    "restarted from the last frame when full (as tools/arbench --context)")
    ap.add_argument("--allow-reference-blas", action="store_true",
                    help="CPU: time PyTorch even on the netlib reference BLAS (see the docstring)")
    ap.add_argument("--check-static", action="store_true",
                    help="check the static step against reference.Rollout (greedy) and exit")
    a = ap.parse_args()

    cuda = a.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        sys.exit("bench_torch: CUDA requested but torch.cuda.is_available() is false")
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    dev = torch.device(a.device)
    model = R.load_model(a.card)
    if cuda:
        model = model.half()
    model = model.to(dev).eval()
    tok, pred = model.tokenizer, model.predictor
    if tok is None or pred is None:
        sys.exit("bench_torch: the card needs a tokenizer and a predictor")
    T, C = pred.T, pred.cfg["context_frames"]
    discrete = pred.discrete
    n_act = pred.cfg["action"].get("count", 0) if discrete else 0
    act_dim = 0 if discrete else pred.cfg["action"]["dim"]
    h, w = tok.cfg["resolution"]
    gen = torch.Generator(device=dev).manual_seed(a.seed)
    sampler = R.Sampler(1.0, 0, gen)

    def action_at(f):
        if discrete:
            return torch.tensor([f % n_act], device=dev)
        return torch.tensor([[math.sin(0.3 * f + i) for i in range(act_dim)]], device=dev,
                            dtype=next(pred.parameters()).dtype)

    use_static = cuda and not isinstance(pred, R.LlamaPredictor)
    step = None
    if use_static or a.check_static:
        if isinstance(pred, R.LlamaPredictor):
            sys.exit("bench_torch: the static step is written for GPT predictors")
        step = StaticStep(pred, pred.new_cache(1, device=dev), dev)

    rng = torch.Generator().manual_seed(a.seed)
    hist_t = [torch.randint(0, pred.cfg["vocab"], (T,), generator=rng).to(dev) for _ in range(C - 1)]
    hist_a = [action_at(f) for f in range(C - 1)]

    with torch.no_grad():
        if a.check_static:
            step.greedy = True
            if a.context == "refresh":
                sys.exit(0 if check_static_refresh(step, hist_t, hist_a, action_at, rng, not cuda)
                         else 1)
            ctx = torch.stack(hist_t[-(C - 1):])[None]
            acts = torch.stack(hist_a[-(C - 1):], dim=1)
            want = R.Rollout(pred, ctx[:, 1:], acts[:, 1:-1]).step(acts[:, -1], R.greedy)[0]
            got = generate_static(step, ctx[:, 1:], acts[:, 1:-1], acts[:, -1])
            ok = torch.equal(want.cpu(), got.cpu())
            print("static step %s the reference: %s / %s" % ("matches" if ok else "DIFFERS from",
                  got.tolist(), want.tolist()))
            sys.exit(0 if ok else 1)
        if use_static and not a.no_graphs:
            try:
                step.capture()
                print("torch_info cuda fp16, token step as a CUDA graph")
            except Exception as e:  # noqa: BLE001 - any capture failure falls back, reported
                step.graph = None
                print("torch_info cuda fp16, CUDA graph capture failed (%s): eager static steps" % e)
        elif cuda:
            print("torch_info cuda fp16, eager steps")
        else:
            blas, reference = blas_report()
            print("torch_info cpu fp32, %d threads, OPENBLAS_NUM_THREADS=%s, torch %s, %s" % (
                torch.get_num_threads(), os.environ["OPENBLAS_NUM_THREADS"], torch.__version__,
                blas))
            if reference and not a.allow_reference_blas:
                sys.exit("bench_torch: PyTorch's products run on the netlib reference BLAS, "
                         "~40x slower than OpenBLAS (%s): a ratio against it means nothing. "
                         "Install libopenblas0-pthread (apt), or pass --allow-reference-blas"
                         % blas)

        segment = Segment(C, T)
        cache = step.cache if step is not None else pred.new_cache(1, device=dev)
        sync = torch.cuda.synchronize if cuda else (lambda: None)
        names = ["encode", "commit", "generate", "decode", "frame"]
        times = {n: [] for n in names}
        for f in range(a.warmup + a.frames):
            frame = synth_frame(w, h, f)
            sync()
            t0 = time.perf_counter()
            tokens = encode(tok, frame)
            sync()
            t1 = time.perf_counter()
            hist_t = (hist_t + [tokens])[-C:]
            hist_a = (hist_a + [action_at(f)])[-C:]
            t2 = time.perf_counter()
            if a.context == "refresh":
                new, start = segment.commit()
                ctx = torch.stack(hist_t[-new:])[None]
                acts = torch.stack(hist_a[-new:], dim=1)
                led_by = hist_a[-new - 1] if start > 0 else None
                if step is not None:
                    nxt = generate_static(step, ctx, acts[:, :-1], acts[:, -1], start, led_by)
                else:
                    nxt = generate_appended(pred, cache, ctx, acts, start, sampler, led_by)
            else:
                ctx = torch.stack(hist_t[-(C - 1):])[None]
                acts = torch.stack(hist_a[-(C - 1):], dim=1)
                if step is not None:
                    nxt = generate_static(step, ctx, acts[:, :-1], acts[:, -1])
                else:
                    nxt = R.Rollout(pred, ctx, acts[:, :-1]).step(acts[:, -1], sampler)[0]
            sync()
            t3 = time.perf_counter()
            px = tok.decode_pixels(nxt.reshape(1, -1)).cpu().numpy()
            t4 = time.perf_counter()
            assert px.shape[0] == 1
            if f >= a.warmup:
                for n, v in zip(names, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
                    times[n].append(v * 1e3)
    for n in names:
        v = sorted(times[n])
        med = v[max(1, math.ceil(0.5 * len(v))) - 1]
        p90 = v[max(1, math.ceil(0.9 * len(v))) - 1]
        print("torch_stage %s %.3f %.3f" % (n, med, p90))
    fr = sorted(times["frame"])
    print("torch_fps=%.3f" % (1000.0 / fr[max(1, math.ceil(0.5 * len(fr))) - 1]))


if __name__ == "__main__":
    main()
