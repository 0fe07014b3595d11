#!/usr/bin/env python3
"""A robot control loop around a world model, in Python (PyGObject).

Feeds synthetic camera frames and discrete actions through appsrcs, reads the predicted next
frame from an appsink, one per step, and prints a line per step and a summary:

    GST_PLUGIN_PATH=build/plugins examples/robot_loop.py MODEL.yaml [STEPS]

    step   0 action 0: predicted 16x16 frame at 0.000s, mean 125.0
    ...
    done: 20 steps, 20 predictions

The model must have discrete actions (as tests/fixtures/tiny/tiny-gpt.yaml). The exit status is
0 when every step got its prediction and the pipeline ended without error.
"""
import struct
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

WIDTH, HEIGHT, FPS = 64, 64, 10


def camera_frame(step, x, y):
    pixels = bytearray([32]) * (WIDTH * HEIGHT * 3)
    for j in range(y, min(y + 16, HEIGHT)):
        start = (j * WIDTH + x) * 3
        pixels[start:start + 16 * 3] = bytes([220]) * (16 * 3)
    buf = Gst.Buffer.new_wrapped(bytes(pixels))
    buf.pts = step * Gst.SECOND // FPS
    buf.duration = Gst.SECOND // FPS
    return buf


def action_buffer(step, action):
    buf = Gst.Buffer.new_wrapped(struct.pack("<i", action))
    buf.pts = step * Gst.SECOND // FPS  # taken at the frame with the same timestamp
    return buf


def main():
    Gst.init(None)
    if len(sys.argv) < 2:
        sys.exit(f"usage: {sys.argv[0]} MODEL.yaml [STEPS]")
    model = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    pipeline = Gst.parse_launch(
        f"appsrc name=frames format=time caps=video/x-raw,format=RGB,width={WIDTH},"
        f"height={HEIGHT},framerate={FPS}/1 ! videoconvert ! videoscale "
        f'! artokenize model="{model}" ! arpredict name=predict model="{model}" greedy=true '
        f'! ardetokenize model="{model}" ! video/x-raw,format=RGB '
        "! appsink name=predictions sync=false "
        "appsrc name=actions format=time caps=application/x-ar-action,format=S32,dim=1 "
        "! predict.action")
    frames = pipeline.get_by_name("frames")
    actions = pipeline.get_by_name("actions")
    sink = pipeline.get_by_name("predictions")
    pipeline.set_state(Gst.State.PLAYING)

    x = y = 24
    status = 0
    predictions = 0
    for step in range(steps):
        action = (step // 5) % 4
        actions.emit("push-buffer", action_buffer(step, action))
        frames.emit("push-buffer", camera_frame(step, x, y))
        x = max(0, min(WIDTH - 16, x + 4 * (action == 1) - 4 * (action == 0)))
        y = max(0, min(HEIGHT - 16, y + 4 * (action == 3) - 4 * (action == 2)))
        sample = sink.emit("try-pull-sample", 10 * Gst.SECOND)
        if sample is None:
            print(f"no prediction for step {step}", file=sys.stderr)
            status = 1
            break
        buf = sample.get_buffer()
        data = buf.extract_dup(0, buf.get_size())
        caps = sample.get_caps().get_structure(0)
        size = f"{caps.get_value('width')}x{caps.get_value('height')}"
        print(f"step {step:3d} action {action}: predicted {size} frame at {buf.pts / Gst.SECOND:.3f}s, "
              f"mean {sum(data) / max(1, len(data)):.1f}", flush=True)
        predictions += 1

    frames.emit("end-of-stream")
    actions.emit("end-of-stream")
    msg = pipeline.get_bus().timed_pop_filtered(10 * Gst.SECOND,
                                                Gst.MessageType.EOS | Gst.MessageType.ERROR)
    if msg and msg.type == Gst.MessageType.ERROR:
        print("error:", msg.parse_error()[0].message, file=sys.stderr)
        status = 1
    pipeline.set_state(Gst.State.NULL)
    print(f"done: {steps} steps, {predictions} predictions")
    sys.exit(status)


if __name__ == "__main__":
    main()
