#!/usr/bin/env python3
"""The arvideo demo: a world model predicts a simulated world, live, beside reality.

arsimsrc renders a small 2D world (an agent disc that pushes an object around an arena) and
attaches to each frame the action applied after it. Each frame goes through

    artokenize ! arpredict timestamp-mode=target ! ardetokenize

which predicts the next frame from the recent frames and the action; arcompare pairs each
prediction with the real frame of the time it predicts, posts their PSNR and SSIM, and outputs
the two side by side (real left, predicted right). The demo writes

    OUT/side-by-side.webm   the side-by-side frames, scaled up (nearest neighbour)
    OUT/strip.png           8 side-by-side frames spread over the run, stacked top to bottom
                            (2-pixel gaps between them)
    OUT/frame-NNNNN.png     every side-by-side frame, with --frame-pngs

and prints the PSNR and SSIM of each prediction, then a summary that also gives a baseline
computed on the same frames: "copy-last", the previous real frame taken as the prediction
(a second arcompare gets the real stream delayed by one frame).

With a display ($DISPLAY or $WAYLAND_DISPLAY) and without --headless it also opens a window
on the side-by-side frames; the source is then live with no policy of its own, and the arrow
keys in the window drive the agent (navigation events travel upstream through arcompare and
the tee to arsimsrc). Close the window or press Ctrl-C to stop; the files are completed.

    examples/demo.py [--model CARD] [--frames N] [--seed S] [--out DIR] [--headless]

Run it from a build tree (it adds build/plugins to GST_PLUGIN_PATH); examples/demo.sh builds
first. Exit status 0 when the pipeline ended without error and at least one prediction was
compared.
"""
import argparse
import os
import signal
import struct
import sys
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join("models", "demo", "sim64.yaml")
STRIP_GAP = 2          # pixels between the frames of the strip
STRIP_GAP_VALUE = 64   # their gray level
MAX_KEPT = 256         # side-by-side frames kept for the strip (thinned by 2 when full)


# ---- PNG ---------------------------------------------------------------------------------

def png_bytes(width, height, rgb):
    """A PNG (8-bit RGB, no interlace) of packed RGB rows."""
    row = width * 3
    raw = b"".join(b"\x00" + rgb[y * row:(y + 1) * row] for y in range(height))

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b""))


def upscale(width, height, rgb, scale):
    """Nearest-neighbour upscale of packed RGB by an integer factor."""
    if scale == 1:
        return rgb
    rows = []
    for y in range(height):
        src = rgb[y * width * 3:(y + 1) * width * 3]
        row = b"".join(src[3 * x:3 * x + 3] * scale for x in range(width))
        rows.append(row * scale)
    return b"".join(rows)


# ---- the demo ----------------------------------------------------------------------------

def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help="model card (default %(default)s, relative to the repository root "
                   "when not found from the current directory)")
    p.add_argument("--frames", type=int, default=None,
                   help="frames to simulate (default 90 headless; with a window, until it "
                   "is closed)")
    p.add_argument("--seed", type=int, default=1, help="world and sampling seed (default 1)")
    p.add_argument("--out", default="demo-out", help="output folder (default %(default)s)")
    p.add_argument("--headless", action="store_true",
                   help="no window (the default when there is no display)")
    p.add_argument("--policy", choices=["random", "scripted", "none"], default=None,
                   help="arsimsrc's policy (default random headless, none with a window: "
                   "the arrow keys drive)")
    p.add_argument("--fps", type=int, default=15,
                   help="frames per second of the world (default 15; live, a slow device "
                   "skips frames to keep up)")
    p.add_argument("--scale", type=int, default=4,
                   help="upscale factor of the video, window and strip (default 4)")
    p.add_argument("--strip", type=int, default=8, help="frames in strip.png (default 8)")
    p.add_argument("--frame-pngs", action="store_true",
                   help="also write every side-by-side frame as OUT/frame-NNNNN.png")
    args = p.parse_args()
    if min(args.scale, args.strip, args.fps) < 1 or (args.frames is not None and args.frames < 0):
        p.error("--scale, --strip and --fps must be >= 1, --frames >= 0")
    return args


def find_model(path):
    for candidate in (path, os.path.join(ROOT, path)):
        if os.path.isfile(candidate):
            return os.path.abspath(candidate)
    sys.exit(f"demo: model {path} not found (the trained demo model is "
             f"{DEFAULT_MODEL}; a small random one for trying the pipeline: "
             "--model tests/fixtures/sim/tiny-sim.yaml)")


class Demo:
    def __init__(self, args, Gst, GLib):
        self.args, self.Gst, self.GLib = args, Gst, GLib
        self.display = not args.headless and bool(os.environ.get("DISPLAY")
                                                  or os.environ.get("WAYLAND_DISPLAY"))
        self.frames = args.frames if args.frames is not None else (0 if self.display else 90)
        self.policy = args.policy or ("none" if self.display else "random")
        self.model = find_model(args.model)
        self.pred = {}        # pts -> (psnr, ssim)
        self.copy_last = {}   # pts -> (psnr, ssim)
        self.kept, self.seen, self.keep_every = [], 0, 1
        self.size = None      # side-by-side width, height
        self.error = None
        self.window_closed = False
        self.stopping = False

    def description(self):
        m = self.model.replace("\\", "\\\\").replace('"', '\\"')
        out = os.path.join(os.path.abspath(self.args.out), "side-by-side.webm")
        out = out.replace("\\", "\\\\").replace('"', '\\"')
        live = "true" if self.display else "false"
        fps = self.args.fps
        # Live, a model slower than the source sees the newest frame (older ones are dropped
        # before it) and the real frames wait for their predictions; headless, nothing drops.
        pred_queue = "queue leaky=downstream max-size-buffers=1 max-size-bytes=0 max-size-time=0" \
            if self.display else "queue"
        real_queue = "queue max-size-buffers=0 max-size-bytes=0 max-size-time=0" \
            if self.display else "queue"
        d = (f"arsimsrc name=sim seed={self.args.seed} policy={self.policy} is-live={live} "
             f"num-buffers={self.frames or -1} ! video/x-raw,format=RGB,framerate={fps}/1 "
             "! tee name=t "
             # The prediction of each frame, stamped with the time it predicts.
             f't. ! {pred_queue} ! artokenize model="{m}" '
             f'! arpredict name=predict model="{m}" timestamp-mode=target seed={self.args.seed} '
             f'! ardetokenize model="{m}" ! videoconvert ! video/x-raw,format=RGB '
             "! compare.sink_pred "
             f"t. ! {real_queue} ! compare.sink_real "
             # The copy-last baseline: the real stream one frame later as the prediction.
             f"t. ! {real_queue} name=lastq ! copylast.sink_pred "
             f"t. ! {real_queue} ! copylast.sink_real "
             "arcompare name=copylast ! fakesink sync=false async=false "
             "arcompare name=compare ! tee name=o "
             "o. ! queue ! videoscale method=nearest-neighbour ! capsfilter name=scale_file "
             f'! videoconvert ! vp8enc deadline=1 ! webmmux ! filesink location="{out}" '
             "o. ! queue ! appsink name=frames emit-signals=true sync=false "
             "caps=video/x-raw,format=RGB ")
        if self.display:
            d += ("o. ! queue name=showq ! videoscale method=nearest-neighbour "
                  "! capsfilter name=scale_show ! videoconvert "
                  # Shown as soon as compared: predictions may come later than real time.
                  "! autovideosink name=show sync=false ")
        return d

    def build(self):
        Gst = self.Gst
        self.pipeline = Gst.parse_launch(self.description())
        # One frame's delay for the copy-last comparison: a pad offset shifts running time.
        lastq = self.pipeline.get_by_name("lastq").get_static_pad("src")
        lastq.set_offset(Gst.SECOND // self.args.fps)
        # The upscalers take the side-by-side size from arcompare's caps, once known.
        src = self.pipeline.get_by_name("compare").get_static_pad("src")
        src.add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, self.on_compare_event)
        self.pipeline.get_by_name("frames").connect("new-sample", self.on_sample)
        if self.display:
            showq = self.pipeline.get_by_name("showq").get_static_pad("src")
            showq.add_probe(Gst.PadProbeType.BUFFER, self.on_show_buffer)
        bus = self.pipeline.get_bus()
        bus.enable_sync_message_emission()
        bus.connect("sync-message::error", self.on_sync_error)
        bus.add_signal_watch()
        bus.connect("message", self.on_message)

    # -- streaming-thread callbacks --

    def on_compare_event(self, pad, info):
        Gst = self.Gst
        event = info.get_event()
        if event.type == Gst.EventType.CAPS:
            s = event.parse_caps().get_structure(0)
            w, h = s.get_int("width")[1], s.get_int("height")[1]
            self.size = (w, h)
            k = self.args.scale
            caps = Gst.Caps.from_string(
                f"video/x-raw,width={w * k},height={h * k},pixel-aspect-ratio=1/1")
            for name in ("scale_file", "scale_show"):
                element = self.pipeline.get_by_name(name)
                if element:
                    element.set_property("caps", caps)
        return Gst.PadProbeReturn.OK

    def on_sample(self, sink):
        sample = sink.emit("pull-sample")
        buf = sample.get_buffer()
        s = sample.get_caps().get_structure(0)
        w, h = s.get_int("width")[1], s.get_int("height")[1]
        ok, info = buf.map(self.Gst.MapFlags.READ)
        if ok:
            stride = (w * 3 + 3) & ~3   # GStreamer pads RGB rows to 4 bytes
            data = bytes(info.data)
            buf.unmap(info)
            rgb = b"".join(data[y * stride:y * stride + w * 3] for y in range(h))
            if self.args.frame_pngs:
                k = self.args.scale
                name = os.path.join(self.args.out, f"frame-{self.seen:05d}.png")
                with open(name, "wb") as f:
                    f.write(png_bytes(w * k, h * k, upscale(w, h, rgb, k)))
            if self.seen % self.keep_every == 0:
                self.kept.append((w, h, rgb))
                if len(self.kept) >= MAX_KEPT:
                    self.kept = self.kept[::2]
                    self.keep_every *= 2
            self.seen += 1
        return self.Gst.FlowReturn.OK

    def on_sync_error(self, bus, msg):
        # The window was closed: stop feeding it, so that EOS can still finish the files.
        if self.display and msg.src.has_as_ancestor(self.pipeline.get_by_name("show")):
            self.window_closed = True

    def on_show_buffer(self, pad, info):
        return self.Gst.PadProbeReturn.DROP if self.window_closed else self.Gst.PadProbeReturn.OK

    # -- main-loop callbacks --

    def stop(self, reason):
        if not self.stopping:
            self.stopping = True
            print(f"demo: {reason}: finishing the files", flush=True)
            self.pipeline.send_event(self.Gst.Event.new_eos())
        return self.GLib.SOURCE_REMOVE

    def on_message(self, bus, msg):
        Gst = self.Gst
        if msg.type == Gst.MessageType.ELEMENT and msg.has_name("arcompare"):
            s = msg.get_structure()
            pts, psnr, ssim = s.get_uint64("pts")[1], s.get_double("psnr")[1], s.get_double("ssim")[1]
            if msg.src.get_name() == "compare":
                self.pred[pts] = (psnr, ssim)
                print(f"frame {round(pts * self.args.fps / Gst.SECOND):4d}  t={pts / Gst.SECOND:7.3f}s  "
                      f"psnr {psnr:6.2f} dB  ssim {ssim:.4f}", flush=True)
            else:
                self.copy_last[pts] = (psnr, ssim)
        elif msg.type == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            if self.window_closed and msg.src.has_as_ancestor(self.pipeline.get_by_name("show")):
                self.stop("window closed")
                return
            self.error = f"{msg.src.get_name()}: {err.message}"
            print(f"demo: error from {self.error}\n{debug or ''}", file=sys.stderr)
            self.loop.quit()
        elif msg.type == Gst.MessageType.EOS:
            self.loop.quit()

    def run(self):
        GLib = self.GLib
        os.makedirs(self.args.out, exist_ok=True)
        self.build()
        what = "live, the arrow keys in the window drive" if self.display else "headless"
        frames = f"{self.frames} frames" if self.frames else "until the window is closed"
        shown = os.path.relpath(self.model)
        shown = self.model if shown.startswith("..") else shown
        print(f"demo: {shown}, seed {self.args.seed}, policy "
              f"{self.policy}, {frames}, {what}", flush=True)
        self.loop = GLib.MainLoop()
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, self.stop, "interrupted")
        if self.pipeline.set_state(self.Gst.State.PLAYING) == self.Gst.StateChangeReturn.FAILURE:
            self.pipeline.set_state(self.Gst.State.NULL)
            # The error message says why; take it from the bus.
            msg = self.pipeline.get_bus().pop_filtered(self.Gst.MessageType.ERROR)
            sys.exit("demo: the pipeline did not start"
                     + (f": {msg.parse_error()[0].message}" if msg else ""))
        self.loop.run()
        self.pipeline.set_state(self.Gst.State.NULL)
        return self.report()

    def write_strip(self):
        if not self.kept:
            return None
        n = min(self.args.strip, len(self.kept))
        picks = [self.kept[round(i * (len(self.kept) - 1) / max(n - 1, 1))] for i in range(n)]
        w, h, _ = picks[0]
        k = self.args.scale
        gap = bytes([STRIP_GAP_VALUE]) * (w * k * 3 * STRIP_GAP)
        parts = []
        for i, (_, _, rgb) in enumerate(picks):
            if i:
                parts.append(gap)
            parts.append(upscale(w, h, rgb, k))
        height = n * h * k + (n - 1) * STRIP_GAP
        path = os.path.join(self.args.out, "strip.png")
        with open(path, "wb") as f:
            f.write(png_bytes(w * k, height, b"".join(parts)))
        return path, n, w * k, height

    def report(self):
        strip = self.write_strip()
        common = sorted(set(self.pred) & set(self.copy_last))

        def means(table, keys):
            if not keys:
                return float("nan"), float("nan")
            return (sum(table[t][0] for t in keys) / len(keys),
                    sum(table[t][1] for t in keys) / len(keys))

        p_psnr, p_ssim = means(self.pred, sorted(self.pred))
        print(f"summary: {len(self.pred)} predicted frames, model {os.path.basename(self.model)}")
        print(f"  prediction: mean psnr {p_psnr:.2f} dB, mean ssim {p_ssim:.4f}")
        if common:
            c_psnr, c_ssim = means(self.copy_last, common)
            if len(common) != len(self.pred):
                p_psnr, p_ssim = means(self.pred, common)
                print(f"  prediction on the {len(common)} frames with a copy-last score: mean "
                      f"psnr {p_psnr:.2f} dB, mean ssim {p_ssim:.4f}")
            print(f"  copy-last:  mean psnr {c_psnr:.2f} dB, mean ssim {c_ssim:.4f} (the "
                  f"previous real frame as the prediction, same {len(common)} frames)")
            print(f"  prediction - copy-last: {p_psnr - c_psnr:+.2f} dB")
        if self.size:
            w, h = self.size
            print(f"  wrote {os.path.join(self.args.out, 'side-by-side.webm')} "
                  f"({w * self.args.scale}x{h * self.args.scale}, real left, predicted right)")
        if strip:
            print(f"  wrote {strip[0]} ({strip[1]} frames, {strip[2]}x{strip[3]})")
        if self.args.frame_pngs:
            print(f"  wrote {self.seen} frame PNGs to {self.args.out}/")
        if self.error:
            return 1
        if not self.pred:
            print("demo: no prediction was compared", file=sys.stderr)
            return 1
        return 0


def main():
    args = parse_args()
    # Find the plugins of this build tree unless told otherwise.
    plugins = os.path.join(ROOT, "build", "plugins")
    if os.path.isdir(plugins) and "GST_PLUGIN_PATH" not in os.environ:
        os.environ["GST_PLUGIN_PATH"] = plugins
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import GLib, Gst
    Gst.init(None)
    if not Gst.ElementFactory.find("arsimsrc"):
        sys.exit("demo: the arvideo plugin is not found: build first (examples/demo.sh) or set "
                 "GST_PLUGIN_PATH to build/plugins")
    sys.exit(Demo(args, Gst, GLib).run())


if __name__ == "__main__":
    main()
