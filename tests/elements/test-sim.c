/* GstHarness tests of arsimsrc, arrecord and arcompare, and a pipeline of arsimsrc through the
 * model elements on the tiny-sim fixture (continuous 2D actions, like the simulator's).
 *
 * The simulator itself (common/ar-sim.c) is the reference: frames and actions the elements
 * produce are replayed on an ArSim of the same seed and must match bit for bit.
 *
 * Run with CK_FORK=no and GST_TRACERS=leaks (meson does): at exit the leaks tracer reports
 * any object a test left alive, which fails the program. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <gst/video/navigation.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include "ar-action-meta.h"
#include "element-test-util.h"
#include "ar-safetensors.h"
#include "ar-sim.h"

#define TINY_SIM SIM_FIXTURES_DIR "/tiny-sim.yaml"

/* ---- helpers ---------------------------------------------------------------------------- */

/* Harness sink templates. arsimsrc has a sink pad template (its action pad), so the harness
 * starts it as soon as it is created: the caps must hold from the start
 * (gst_harness_set_sink_caps would race with the first frames), and so must properties. */
#define SMALL_CAPS "video/x-raw, format=RGB, width=32, height=24, framerate=15/1"
#define ODD_CAPS "video/x-raw, format=BGRx, width=37, height=23, framerate=30/1"
static GstStaticPadTemplate any_src = GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC,
    GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
static GstStaticPadTemplate any_sink = GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK,
    GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
static GstStaticPadTemplate small_sink = GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK,
    GST_PAD_ALWAYS, GST_STATIC_CAPS (SMALL_CAPS));
static GstStaticPadTemplate odd_sink = GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK,
    GST_PAD_ALWAYS, GST_STATIC_CAPS (ODD_CAPS));

/* A harness around an arsimsrc whose output @sink accepts. */
static GstHarness *
sim_harness (GstStaticPadTemplate *sink, const gchar *first_property, ...)
{
  /* Bounded, so that a non-live source does not fill the harness queue without end. */
  GstElement *src = make_element ("arsimsrc", "num-buffers", 200, NULL);
  GstHarness *h;
  va_list args;

  if (first_property) {
    va_start (args, first_property);
    g_object_set_valist (G_OBJECT (src), first_property, args);
    va_end (args);
  }
  h = gst_harness_new_full (src, &any_src, NULL, sink, "src");
  gst_object_unref (src);
  return h;
}

/* Pulls @n frames from a non-live source harness. */
static GPtrArray *
pull_frames (GstHarness *h, guint n)
{
  GPtrArray *frames = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  guint i;

  for (i = 0; i < n; i++) {
    GstBuffer *buffer = gst_harness_pull (h);
    fail_unless (buffer != NULL);
    g_ptr_array_add (frames, buffer);
  }
  return frames;
}

static const ArActionMeta *
action_of (GstBuffer *buffer)
{
  const ArActionMeta *meta = ar_buffer_get_action_meta (buffer);

  fail_unless (meta != NULL, "frame without an action meta");
  fail_if (meta->discrete);
  fail_unless_equals_int (meta->dim, AR_SIM_ACTION_DIM);
  return meta;
}

/* Checks that the RGB @frame (tightly packed rows of @width) is @sim's rendering. */
static void
assert_frame_is (GstBuffer *frame, const ArSim *sim, guint width, guint height)
{
  gsize stride = GST_ROUND_UP_4 (width * 3);
  guint8 *expected = g_malloc0 (stride * height);
  GstMapInfo map;

  ar_sim_render (sim, expected, width, height, stride, 3, FALSE);
  fail_unless (gst_buffer_map (frame, &map, GST_MAP_READ));
  fail_unless (map.size == stride * height, "frame of %" G_GSIZE_FORMAT " bytes, expected %" G_GSIZE_FORMAT " (%ux%u), pts %" GST_TIME_FORMAT, map.size, stride * height, width, height, GST_TIME_ARGS (GST_BUFFER_PTS (frame)));
  fail_unless (memcmp (map.data, expected, map.size) == 0,
      "frame differs from the simulator's rendering");
  gst_buffer_unmap (frame, &map);
  g_free (expected);
}

/* ---- arsimsrc --------------------------------------------------------------------------- */

GST_START_TEST (test_simsrc_determinism)
{
  GstHarness *h1 = sim_harness (&small_sink, "seed", (guint64) 5, "distractors", 2, NULL);
  GstHarness *h2 = sim_harness (&small_sink, "seed", (guint64) 5, "distractors", 2, NULL);
  GstHarness *h3 = sim_harness (&small_sink, "seed", (guint64) 6, "distractors", 2, NULL);
  GPtrArray *a, *b, *c;
  guint i, same_as_other_seed = 0;

  gst_harness_play (h1);
  gst_harness_play (h2);
  gst_harness_play (h3);
  a = pull_frames (h1, 30);
  b = pull_frames (h2, 30);
  c = pull_frames (h3, 30);
  for (i = 0; i < a->len; i++) {
    const ArActionMeta *ma = action_of (a->pdata[i]), *mb = action_of (b->pdata[i]);
    fail_unless (buffers_equal (a->pdata[i], b->pdata[i]), "seed 5 frame %u differs", i);
    fail_unless (ma->values[0] == mb->values[0] && ma->values[1] == mb->values[1]);
    same_as_other_seed += buffers_equal (a->pdata[i], c->pdata[i]);
  }
  fail_unless_equals_int (same_as_other_seed, 0);
  g_ptr_array_unref (a);
  g_ptr_array_unref (b);
  g_ptr_array_unref (c);
  gst_harness_teardown (h1);
  gst_harness_teardown (h2);
  gst_harness_teardown (h3);
}
GST_END_TEST;

GST_START_TEST (test_simsrc_caps)
{
  GstHarness *h = sim_harness (&any_sink, "seed", (guint64) 1, NULL);
  GstBuffer *buffer;
  GstCaps *caps;
  GstVideoInfo info;
  GstVideoFrame frame;
  guint x, y, i;

  /* Default: 64x64 RGB at 15/1, timestamps from the frame count. */
  gst_harness_play (h);
  for (i = 0; i < 4; i++) {
    buffer = gst_harness_pull (h);
    fail_unless_equals_uint64 (gst_buffer_get_size (buffer), 64 * 64 * 3);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (buffer),
        gst_util_uint64_scale (i, GST_SECOND, 15));
    fail_unless_equals_uint64 (GST_BUFFER_DURATION (buffer),
        gst_util_uint64_scale (i + 1, GST_SECOND, 15) - gst_util_uint64_scale (i, GST_SECOND, 15));
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET (buffer), i);
    gst_buffer_unref (buffer);
  }
  caps = gst_pad_get_current_caps (h->sinkpad);
  fail_unless (gst_video_info_from_caps (&info, caps));
  fail_unless_equals_int (GST_VIDEO_INFO_WIDTH (&info), 64);
  fail_unless_equals_int (GST_VIDEO_INFO_HEIGHT (&info), 64);
  fail_unless_equals_int (GST_VIDEO_INFO_FORMAT (&info), GST_VIDEO_FORMAT_RGB);
  fail_unless_equals_int (GST_VIDEO_INFO_FPS_N (&info), 15);
  fail_unless_equals_int (GST_VIDEO_INFO_FPS_D (&info), 1);
  gst_caps_unref (caps);
  gst_harness_teardown (h);

  /* An odd size in a 4-byte BGR format: the world's colours in B, G, R order, alpha 255,
   * matching the simulator's own rendering. */
  h = sim_harness (&odd_sink, "seed", (guint64) 1, NULL);
  gst_harness_play (h);
  buffer = gst_harness_pull (h);
  caps = gst_pad_get_current_caps (h->sinkpad);
  fail_unless (gst_video_info_from_caps (&info, caps));
  gst_caps_unref (caps);
  fail_unless_equals_int (GST_VIDEO_INFO_WIDTH (&info), 37);
  fail_unless_equals_int (GST_VIDEO_INFO_HEIGHT (&info), 23);
  fail_unless_equals_uint64 (GST_BUFFER_DURATION (buffer), GST_SECOND / 30);
  {
    ArSim *sim = ar_sim_new (1, 0);
    guint8 *rgb = g_malloc (37 * 23 * 3);
    ar_sim_render (sim, rgb, 37, 23, 37 * 3, 3, FALSE);
    fail_unless (gst_video_frame_map (&frame, &info, buffer, GST_MAP_READ));
    for (y = 0; y < 23; y++)
      for (x = 0; x < 37; x++) {
        const guint8 *px = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame, 0)
            + y * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0) + x * 4;
        const guint8 *ref = rgb + (y * 37 + x) * 3;
        fail_unless (px[0] == ref[2] && px[1] == ref[1] && px[2] == ref[0] && px[3] == 255,
            "pixel %u,%u", x, y);
      }
    gst_video_frame_unmap (&frame);
    g_free (rgb);
    ar_sim_free (sim);
  }
  gst_buffer_unref (buffer);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Every frame is the simulator's rendering after the actions of the earlier frames' metas,
 * and those actions are the policy's: render t, choose a_t, attach a_t, step. */
static void
check_replay (gint policy_value, ArSimPolicy policy, guint distractors)
{
  GstHarness *h = sim_harness (&small_sink, "seed", (guint64) 9, "distractors", distractors,
      "policy", policy_value, NULL);
  ArSim *sim = ar_sim_new (9, distractors);
  GPtrArray *frames;
  guint i, free_moves = 0;

  gst_harness_play (h);
  frames = pull_frames (h, 60);
  for (i = 0; i < frames->len; i++) {
    const ArActionMeta *meta = action_of (frames->pdata[i]);
    float expected[2];
    double agent[2], object[2], after[2], after_object[2];

    assert_frame_is (frames->pdata[i], sim, 32, 24);
    ar_sim_policy_action (sim, policy, expected);
    fail_unless (meta->values[0] == expected[0] && meta->values[1] == expected[1],
        "frame %u: meta (%g, %g), policy (%g, %g)", i, meta->values[0], meta->values[1],
        expected[0], expected[1]);
    /* The meta is the motion to the next frame: away from walls and the object, the agent
     * moves by exactly action * speed. */
    ar_sim_get_state (sim, agent, object);
    ar_sim_step (sim, meta->values);
    ar_sim_get_state (sim, after, after_object);
    if (agent[0] > 0.2 && agent[0] < 0.8 && agent[1] > 0.2 && agent[1] < 0.8
        && hypot (agent[0] - object[0], agent[1] - object[1]) > 0.35) {
      fail_unless (fabs (after[0] - agent[0] - meta->values[0] * AR_SIM_AGENT_SPEED) < 1e-12);
      fail_unless (fabs (after[1] - agent[1] - meta->values[1] * AR_SIM_AGENT_SPEED) < 1e-12);
      free_moves++;
    }
  }
  fail_unless (free_moves > 5, "only %u free moves checked", free_moves);
  g_ptr_array_unref (frames);
  ar_sim_free (sim);
  gst_harness_teardown (h);
}

GST_START_TEST (test_simsrc_action_meta)
{
  check_replay (0 /* random */, AR_SIM_POLICY_RANDOM, 0);
  check_replay (1 /* scripted */, AR_SIM_POLICY_SCRIPTED, 3);
}
GST_END_TEST;

GST_START_TEST (test_simsrc_action_property)
{
  GstHarness *h = sim_harness (&small_sink, "policy", 2 /* none */, NULL);
  GPtrArray *frames;
  const ArActionMeta *meta;

  gst_harness_play (h);
  frames = pull_frames (h, 2);
  meta = action_of (frames->pdata[0]);
  fail_unless (meta->values[0] == 0.0f && meta->values[1] == 0.0f);
  g_ptr_array_unref (frames);
  gst_harness_teardown (h);

  /* A constant action overrides the policy; values beyond [-1, 1] are recorded clamped, as
   * the world applies them. */
  h = sim_harness (&small_sink, "action", "0.5,-3", NULL);
  gst_harness_play (h);
  frames = pull_frames (h, 3);
  meta = action_of (frames->pdata[2]);
  fail_unless (meta->values[0] == 0.5f && meta->values[1] == -1.0f);
  g_ptr_array_unref (frames);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Live source on the harness's test clock: each crank releases one frame, so that input
 * events land between known frames. The action of a frame is chosen when it is rendered,
 * before the source waits for its time: an input takes effect within two frames. */
static GstBuffer *
crank_frame (GstHarness *h)
{
  fail_unless (gst_harness_crank_single_clock_wait (h));
  return gst_harness_pull (h);
}

/* Pulls frames until one carries (@x, @y) (at most 3) and returns it. */
static GstBuffer *
pull_until_action (GstHarness *h, gfloat x, gfloat y, GPtrArray *seen)
{
  guint i;

  for (i = 0; i < 3; i++) {
    GstBuffer *buffer = crank_frame (h);
    const ArActionMeta *meta = action_of (buffer);
    g_ptr_array_add (seen, buffer);
    if (meta->values[0] == x && meta->values[1] == y)
      return buffer;
  }
  fail ("action (%g, %g) never came", x, y);
  return NULL;
}

/* Replays @frames on a fresh world of @seed: each must be its rendering. */
static void
assert_replays (GPtrArray *frames, guint64 seed, guint width, guint height)
{
  ArSim *sim = ar_sim_new (seed, 0);
  guint i;

  for (i = 0; i < frames->len; i++) {
    assert_frame_is (frames->pdata[i], sim, width, height);
    ar_sim_step (sim, action_of (frames->pdata[i])->values);
  }
  ar_sim_free (sim);
}

GST_START_TEST (test_simsrc_keys)
{
  GstHarness *h = sim_harness (&small_sink, "policy", 2 /* none */, "is-live", TRUE,
      "seed", (guint64) 2, NULL);
  GPtrArray *frames = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  ArSim *sim = ar_sim_new (2, 0);
  double start[2], object[2], now[2];
  guint i, first_right;

  gst_harness_use_testclock (h);
  gst_harness_play (h);
  g_ptr_array_add (frames, crank_frame (h));
  fail_unless (action_of (frames->pdata[0])->values[0] == 0.0f);

  /* Right: full speed to the right (x grows). */
  fail_unless (gst_harness_push_upstream_event (h,
          gst_navigation_event_new_key_press ("Right", GST_NAVIGATION_MODIFIER_NONE)));
  pull_until_action (h, 1.0f, 0.0f, frames);
  first_right = frames->len - 1;
  g_ptr_array_add (frames, crank_frame (h));
  fail_unless (action_of (frames->pdata[frames->len - 1])->values[0] == 1.0f);
  /* Up as well: a diagonal, y up the image (negative). */
  fail_unless (gst_harness_push_upstream_event (h,
          gst_navigation_event_new_key_press ("Up", GST_NAVIGATION_MODIFIER_NONE)));
  pull_until_action (h, 1.0f, -1.0f, frames);
  /* Both released: the agent stops. */
  fail_unless (gst_harness_push_upstream_event (h,
          gst_navigation_event_new_key_release ("Right", GST_NAVIGATION_MODIFIER_NONE)));
  fail_unless (gst_harness_push_upstream_event (h,
          gst_navigation_event_new_key_release ("Up", GST_NAVIGATION_MODIFIER_NONE)));
  pull_until_action (h, 0.0f, 0.0f, frames);
  g_ptr_array_add (frames, crank_frame (h));
  fail_unless (action_of (frames->pdata[frames->len - 1])->values[0] == 0.0f);

  /* The frames show it: they replay on the world with these actions, and the agent moved
   * right over the steps Right was held. */
  assert_replays (frames, 2, 32, 24);
  for (i = 0; i < first_right; i++)
    ar_sim_step (sim, action_of (frames->pdata[i])->values);
  ar_sim_get_state (sim, start, object);
  ar_sim_step (sim, action_of (frames->pdata[first_right])->values);
  ar_sim_get_state (sim, now, object);
  fail_unless (now[0] > start[0] + 0.5 * AR_SIM_AGENT_SPEED, "agent x %g -> %g", start[0],
      now[0]);

  ar_sim_free (sim);
  g_ptr_array_unref (frames);
  gst_harness_teardown (h);
}
GST_END_TEST;

static GstBuffer *
make_action (gfloat x, gfloat y, GstClockTime pts)
{
  gfloat v[2] = { x, y };
  GstBuffer *buffer = gst_buffer_new_memdup (v, sizeof v);
  GST_BUFFER_PTS (buffer) = pts;
  return buffer;
}

GST_START_TEST (test_simsrc_action_pad)
{
  GstElement *src = make_element ("arsimsrc", "policy", 2 /* none */, "is-live", TRUE,
      "seed", (guint64) 4, NULL);
  GstBus *bus = attach_bus (src);
  GstHarness *h = gst_harness_new_full (src, &any_src, NULL, &small_sink, "src");
  GstHarness *ah = gst_harness_new_with_element (src, "action", NULL);
  GPtrArray *frames = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  GstBuffer *buffer;

  gst_object_unref (src);
  gst_harness_set_src_caps_str (ah, "application/x-ar-action, format=F32, dim=2");
  gst_harness_use_testclock (h);
  gst_harness_play (h);
  g_ptr_array_add (frames, crank_frame (h));

  /* An untimed action applies from the next frames on, and beats held keys. */
  fail_unless (gst_harness_push_upstream_event (h,
          gst_navigation_event_new_key_press ("Left", GST_NAVIGATION_MODIFIER_NONE)));
  fail_unless_equals_int (gst_harness_push (ah, make_action (0.5f, -0.25f,
              GST_CLOCK_TIME_NONE)), GST_FLOW_OK);
  pull_until_action (h, 0.5f, -0.25f, frames);
  g_ptr_array_add (frames, crank_frame (h));
  buffer = frames->pdata[frames->len - 1];
  fail_unless (action_of (buffer)->values[0] == 0.5f);

  /* A timed one waits for its running time: 10 frames (at 15/1) from now. */
  {
    GstClockTime at = GST_BUFFER_PTS (buffer) + gst_util_uint64_scale (10, GST_SECOND, 15);
    guint i;
    fail_unless_equals_int (gst_harness_push (ah, make_action (-1.0f, 1.0f, at)),
        GST_FLOW_OK);
    for (i = 0; i < 12; i++) {
      GstBuffer *f = crank_frame (h);
      const ArActionMeta *meta = action_of (f);
      g_ptr_array_add (frames, f);
      if (GST_BUFFER_PTS (f) < at)
        fail_unless (meta->values[0] == 0.5f, "frame at %" GST_TIME_FORMAT,
            GST_TIME_ARGS (GST_BUFFER_PTS (f)));
      else
        fail_unless (meta->values[0] == -1.0f && meta->values[1] == 1.0f);
    }
  }
  assert_replays (frames, 4, 32, 24);

  /* Wrong sizes are errors. */
  fail_unless_equals_int (gst_harness_push (ah, gst_buffer_new_allocate (NULL, 4, NULL)),
      GST_FLOW_ERROR);
  {
    GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    GError *error = NULL;
    fail_unless (msg != NULL);
    gst_message_parse_error (msg, &error, NULL);
    fail_unless (strstr (error->message, "4 bytes") != NULL, "%s", error->message);
    g_error_free (error);
    gst_message_unref (msg);
  }

  g_ptr_array_unref (frames);
  gst_harness_teardown (ah);
  gst_harness_teardown (h);
  release_bus (bus);
}
GST_END_TEST;

/* ---- arrecord --------------------------------------------------------------------------- */

/* Runs @description to EOS; returns the element messages named @name (or the error text in
 * @error_text). */
static GList *
run_to_eos (const gchar *description, const gchar *name, gchar **error_text)
{
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (description, &error);
  GstBus *bus;
  GList *messages = NULL;
  gboolean done = FALSE;

  fail_unless (pipeline != NULL, "%s", error ? error->message : "?");
  bus = gst_element_get_bus (pipeline);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE
      || error_text);
  while (!done) {
    GstMessage *msg = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT);
    fail_unless (msg != NULL, "timeout");
    switch (GST_MESSAGE_TYPE (msg)) {
      case GST_MESSAGE_ELEMENT:
        if (gst_message_has_name (msg, name))
          messages = g_list_append (messages, gst_message_ref (msg));
        break;
      case GST_MESSAGE_ERROR:
        gst_message_parse_error (msg, &error, NULL);
        fail_unless (error_text != NULL, "error: %s", error->message);
        *error_text = g_strdup (error->message);
        g_clear_error (&error);
        done = TRUE;
        break;
      default:
        fail_if (error_text != NULL, "EOS where an error was expected");
        done = TRUE;
        break;
    }
    gst_message_unref (msg);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  return messages;
}

GST_START_TEST (test_record_roundtrip)
{
  gchar *dir = g_dir_make_tmp ("arrecord-XXXXXX", NULL);
  gchar *description = g_strdup_printf ("arsimsrc num-buffers=20 seed=4 distractors=1 ! "
      "video/x-raw, width=24, height=20, framerate=10/1 ! arrecord location=%s/ep-%%02d.st "
      "max-frames=8 metadata=\"m, seed=4, note=(string)hello\"", dir);
  GList *messages = run_to_eos (description, "arrecord", NULL), *l;
  ArSim *sim = ar_sim_new (4, 1);
  guint episode = 0, t = 0;
  const guint sizes[] = { 8, 8, 4 };

  fail_unless_equals_int (g_list_length (messages), 3);
  for (l = messages; l; l = l->next, episode++) {
    const GstStructure *s = gst_message_get_structure (l->data);
    gchar *path = g_strdup_printf ("%s/ep-%02u.st", dir, episode);
    GError *error = NULL;
    ArSafetensors *st;
    const ArStTensor *frames, *actions, *pts;
    guint frames_in_file, i;

    fail_unless_equals_string (gst_structure_get_string (s, "location"), path);
    fail_unless (gst_structure_get_uint (s, "frames", &frames_in_file));
    fail_unless_equals_int (frames_in_file, sizes[episode]);
    st = ar_safetensors_open (path, &error);
    fail_unless (st != NULL, "%s", error ? error->message : "?");
    frames = ar_safetensors_lookup (st, "frames");
    actions = ar_safetensors_lookup (st, "actions");
    pts = ar_safetensors_lookup (st, "pts");
    fail_unless (frames && actions && pts);
    fail_unless (frames->dtype == AR_ST_U8 && frames->ndim == 4);
    fail_unless (frames->shape[0] == sizes[episode] && frames->shape[1] == 20
        && frames->shape[2] == 24 && frames->shape[3] == 3);
    fail_unless (actions->dtype == AR_ST_F32 && actions->ndim == 2
        && actions->shape[0] == sizes[episode] && actions->shape[1] == 2);
    fail_unless (pts->dtype == AR_ST_I64 && pts->ndim == 1 && pts->shape[0] == sizes[episode]);
    fail_unless_equals_string (ar_safetensors_metadata (st, "format"), "arvideo-episode/1");
    fail_unless_equals_string (ar_safetensors_metadata (st, "fps"), "10/1");
    fail_unless_equals_string (ar_safetensors_metadata (st, "source"), "arrecord");
    fail_unless_equals_string (ar_safetensors_metadata (st, "seed"), "4");
    fail_unless_equals_string (ar_safetensors_metadata (st, "note"), "hello");

    /* Frames, actions and times continue across the files, as the world ran. */
    for (i = 0; i < sizes[episode]; i++, t++) {
      guint8 expected[20 * 24 * 3];
      float action[2], recorded[2];
      gint64 time;
      ar_sim_render (sim, expected, 24, 20, 24 * 3, 3, FALSE);
      fail_unless (memcmp ((const guint8 *) frames->data + i * sizeof expected, expected,
              sizeof expected) == 0, "frame %u", t);
      ar_sim_policy_action (sim, AR_SIM_POLICY_RANDOM, action);
      memcpy (recorded, (const guint8 *) actions->data + i * sizeof recorded, sizeof recorded);
      fail_unless (recorded[0] == action[0] && recorded[1] == action[1], "action %u", t);
      memcpy (&time, (const guint8 *) pts->data + i * 8, 8);
      fail_unless_equals_int64 (time, (gint64) t * GST_SECOND / 10);
      ar_sim_step (sim, action);
    }
    ar_safetensors_close (st);
    g_unlink (path);
    g_free (path);
  }
  g_list_free_full (messages, (GDestroyNotify) gst_message_unref);
  ar_sim_free (sim);
  g_rmdir (dir);
  g_free (description);
  g_free (dir);
}
GST_END_TEST;

GST_START_TEST (test_record_errors)
{
  gchar *text = NULL;
  GList *messages;

  /* A directory that does not exist. */
  messages = run_to_eos ("arsimsrc num-buffers=3 ! arrecord "
      "location=/nonexistent-arvideo/ep.st", "arrecord", &text);
  fail_unless (messages == NULL);
  fail_unless (strstr (text, "Could not write episode 0") != NULL, "%s", text);
  g_clear_pointer (&text, g_free);

  /* Conversions other than one %d are refused at start. */
  messages = run_to_eos ("arsimsrc num-buffers=3 ! arrecord location=ep-%d-%s.st",
      "arrecord", &text);
  fail_unless (messages == NULL);
  fail_unless (strstr (text, "one %d") != NULL, "%s", text);
  g_clear_pointer (&text, g_free);

  /* Several episodes but no %d: the second would overwrite the first. */
  {
    gchar *dir = g_dir_make_tmp ("arrecord-XXXXXX", NULL);
    gchar *description = g_strdup_printf ("arsimsrc num-buffers=5 ! arrecord "
        "location=%s/one.st max-frames=2", dir);
    gchar *path = g_build_filename (dir, "one.st", NULL);
    messages = run_to_eos (description, "arrecord", &text);
    fail_unless_equals_int (g_list_length (messages), 1);
    fail_unless (strstr (text, "has no %d") != NULL, "%s", text);
    g_list_free_full (messages, (GDestroyNotify) gst_message_unref);
    g_clear_pointer (&text, g_free);
    g_unlink (path);
    g_rmdir (dir);
    g_free (path);
    g_free (description);
    g_free (dir);
  }
}
GST_END_TEST;

/* ---- arcompare -------------------------------------------------------------------------- */

#define CMP_W 40
#define CMP_H 30
#define CMP_CAPS "video/x-raw, format=RGB, width=40, height=30, framerate=10/1"

/* The frames of tests/elements/metrics_ref.py: a pattern and a noisy copy. */
static void
make_pattern_pair (guint8 *real, guint8 *pred)
{
  guint32 state = 12345;
  guint x, y, c;

  for (y = 0; y < CMP_H; y++)
    for (x = 0; x < CMP_W; x++)
      for (c = 0; c < 3; c++) {
        gint v = (gint) ((x * 7 + y * 11 + c * 60 + (x * y) % 17) % 256);
        gint n;
        state = (guint32) (((guint64) state * 1103515245u + 12345u) % (1u << 31));
        n = (gint) ((state >> 16) % 41) - 20;
        real[(y * CMP_W + x) * 3 + c] = (guint8) v;
        pred[(y * CMP_W + x) * 3 + c] = (guint8) CLAMP (v + n, 0, 255);
      }
}

/* An RGB frame (rows padded to 4 bytes as GstVideoInfo wants) from packed pixels. */
static GstBuffer *
make_rgb_frame (const guint8 *pixels, GstClockTime pts)
{
  gsize stride = GST_ROUND_UP_4 (CMP_W * 3);
  GstBuffer *buffer = gst_buffer_new_allocate (NULL, stride * CMP_H, NULL);
  GstMapInfo map;
  guint y;

  gst_buffer_map (buffer, &map, GST_MAP_WRITE);
  memset (map.data, 0, map.size);
  for (y = 0; y < CMP_H; y++)
    memcpy (map.data + y * stride, pixels + y * CMP_W * 3, CMP_W * 3);
  gst_buffer_unmap (buffer, &map);
  GST_BUFFER_PTS (buffer) = pts;
  GST_BUFFER_DURATION (buffer) = GST_SECOND / 10;
  return buffer;
}

static GstStructure *
pop_compare_message (GstBus *bus)
{
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
  GstStructure *s;

  fail_unless (msg != NULL, "no arcompare message");
  fail_unless (gst_message_has_name (msg, "arcompare"));
  s = gst_structure_copy (gst_message_get_structure (msg));
  gst_message_unref (msg);
  return s;
}

GST_START_TEST (test_compare_metrics)
{
  GstElement *compare = make_element ("arcompare", NULL);
  GstBus *bus = attach_bus (compare);
  GstHarness *real_h = gst_harness_new_with_element (compare, "sink_real", "src");
  GstHarness *pred_h = gst_harness_new_with_element (compare, "sink_pred", NULL);
  guint8 real[CMP_W * CMP_H * 3], pred[CMP_W * CMP_H * 3];
  GstStructure *s;
  GstBuffer *out;
  GstMapInfo map;
  gdouble psnr, ssim, mean;
  guint64 pts;
  guint y;

  gst_object_unref (compare);
  make_pattern_pair (real, pred);
  gst_harness_set_src_caps_str (real_h, CMP_CAPS);
  gst_harness_set_src_caps_str (pred_h, CMP_CAPS);

  /* Identical frames: PSNR at its cap, SSIM 1. */
  fail_unless_equals_int (gst_harness_push (real_h, make_rgb_frame (real, 0)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (pred_h, make_rgb_frame (real, 0)), GST_FLOW_OK);
  out = gst_harness_pull (real_h);
  s = pop_compare_message (bus);
  fail_unless (gst_structure_get_double (s, "psnr", &psnr));
  fail_unless (gst_structure_get_double (s, "ssim", &ssim));
  fail_unless_equals_float (psnr, 100.0);
  fail_unless (fabs (ssim - 1.0) < 1e-12, "ssim %g", ssim);
  gst_structure_free (s);
  gst_buffer_unref (out);

  /* The noisy pair: the numpy reference's values (tests/elements/metrics_ref.py). */
  fail_unless_equals_int (gst_harness_push (real_h, make_rgb_frame (real, GST_SECOND / 10)),
      GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (pred_h, make_rgb_frame (pred, GST_SECOND / 10)),
      GST_FLOW_OK);
  out = gst_harness_pull (real_h);
  s = pop_compare_message (bus);
  fail_unless (gst_structure_get_double (s, "psnr", &psnr));
  fail_unless (gst_structure_get_double (s, "ssim", &ssim));
  fail_unless (gst_structure_get_double (s, "mean-psnr", &mean));
  fail_unless (gst_structure_get_uint64 (s, "pts", &pts));
  fail_unless (fabs (psnr - 26.888189277) < 1e-6, "psnr %.9f", psnr);
  fail_unless (fabs (ssim - 0.943717537) < 1e-6, "ssim %.9f", ssim);
  fail_unless (fabs (mean - (100.0 + psnr) / 2) < 1e-9);
  fail_unless_equals_uint64 (pts, GST_SECOND / 10);
  gst_structure_free (s);

  /* Side by side: real left, predicted right. */
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), GST_SECOND / 10);
  fail_unless (gst_buffer_map (out, &map, GST_MAP_READ));
  fail_unless_equals_uint64 (map.size, GST_ROUND_UP_4 (2 * CMP_W * 3) * CMP_H);
  for (y = 0; y < CMP_H; y++) {
    const guint8 *row = map.data + y * GST_ROUND_UP_4 (2 * CMP_W * 3);
    fail_unless (memcmp (row, real + y * CMP_W * 3, CMP_W * 3) == 0);
    fail_unless (memcmp (row + CMP_W * 3, pred + y * CMP_W * 3, CMP_W * 3) == 0);
  }
  gst_buffer_unmap (out, &map);
  gst_buffer_unref (out);

  gst_harness_teardown (pred_h);
  gst_harness_teardown (real_h);
  release_bus (bus);
}
GST_END_TEST;

/* Predictions stamped with the time they predict (arpredict timestamp-mode=target) pair with
 * the real frames of that time; frames without a partner are dropped; a CSV gets a line per
 * pair. */
GST_START_TEST (test_compare_alignment)
{
  gchar *dir = g_dir_make_tmp ("arcompare-XXXXXX", NULL);
  gchar *csv = g_build_filename (dir, "m.csv", NULL);
  GstElement *compare = make_element ("arcompare", "location", csv, NULL);
  GstHarness *real_h = gst_harness_new_with_element (compare, "sink_real", "src");
  GstHarness *pred_h = gst_harness_new_with_element (compare, "sink_pred", NULL);
  guint8 real[CMP_W * CMP_H * 3], pred[CMP_W * CMP_H * 3];
  gchar *contents = NULL, **lines;
  guint i;

  gst_object_unref (compare);
  make_pattern_pair (real, pred);
  gst_harness_set_src_caps_str (real_h, CMP_CAPS);
  gst_harness_set_src_caps_str (pred_h, CMP_CAPS);

  /* real 0; pred 1, real 1; pred 2, real 2; pred 3; EOS. */
  fail_unless_equals_int (gst_harness_push (real_h, make_rgb_frame (real, 0)), GST_FLOW_OK);
  for (i = 1; i <= 3; i++) {
    fail_unless_equals_int (gst_harness_push (pred_h, make_rgb_frame (pred, i * GST_SECOND / 10)),
        GST_FLOW_OK);
    if (i < 3)
      fail_unless_equals_int (gst_harness_push (real_h,
              make_rgb_frame (real, i * GST_SECOND / 10)), GST_FLOW_OK);
  }
  fail_unless (gst_harness_push_event (real_h, gst_event_new_eos ()));
  fail_unless (gst_harness_push_event (pred_h, gst_event_new_eos ()));
  for (i = 1; i <= 2; i++) {
    GstBuffer *out = gst_harness_pull (real_h);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (out), i * GST_SECOND / 10);
    gst_buffer_unref (out);
  }
  /* Then EOS, and nothing else. */
  {
    GstEvent *event;
    gboolean eos = FALSE;
    while ((event = gst_harness_pull_event (real_h))) {
      eos |= GST_EVENT_TYPE (event) == GST_EVENT_EOS;
      gst_event_unref (event);
      if (eos)
        break;
    }
    fail_unless (eos);
  }
  fail_unless_equals_int (gst_harness_buffers_in_queue (real_h), 0);
  gst_harness_teardown (pred_h);
  gst_harness_teardown (real_h);

  fail_unless (g_file_get_contents (csv, &contents, NULL, NULL));
  lines = g_strsplit (contents, "\n", -1);
  fail_unless_equals_int (g_strv_length (lines), 4);   /* header, 2 pairs, "" */
  fail_unless_equals_string (lines[0], "pts,psnr,ssim");
  fail_unless_equals_string (lines[1], "100000000,26.8882,0.943718");
  fail_unless_equals_string (lines[2], "200000000,26.8882,0.943718");
  g_strfreev (lines);
  g_free (contents);
  g_unlink (csv);
  g_rmdir (dir);
  g_free (csv);
  g_free (dir);
}
GST_END_TEST;

GST_START_TEST (test_compare_size_mismatch)
{
  GstElement *compare = make_element ("arcompare", NULL);
  GstBus *bus = attach_bus (compare);
  GstHarness *real_h = gst_harness_new_with_element (compare, "sink_real", "src");
  GstHarness *pred_h = gst_harness_new_with_element (compare, "sink_pred", NULL);
  guint8 real[CMP_W * CMP_H * 3], pred[CMP_W * CMP_H * 3];
  GstMessage *msg;
  GError *error = NULL;

  gst_object_unref (compare);
  make_pattern_pair (real, pred);
  gst_harness_set_src_caps_str (real_h, CMP_CAPS);
  gst_harness_set_src_caps_str (pred_h,
      "video/x-raw, format=RGB, width=16, height=16, framerate=10/1");
  gst_harness_push (real_h, make_rgb_frame (real, 0));
  gst_harness_push (pred_h, gst_buffer_new_allocate (NULL, 16 * 16 * 3, NULL));
  msg = gst_bus_timed_pop_filtered (bus, 10 * GST_SECOND, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_parse_error (msg, &error, NULL);
  fail_unless (strstr (error->message, "16x16") && strstr (error->message, "40x30"), "%s",
      error->message);
  g_error_free (error);
  gst_message_unref (msg);
  gst_harness_teardown (pred_h);
  gst_harness_teardown (real_h);
  release_bus (bus);
}
GST_END_TEST;

/* Navigation events from a window on the output travel upstream: keys to both inputs (so that
 * arrow keys reach a source behind a tee), the pointer to the half it is over. */
static GstEvent *
pull_navigation (GstHarness *h)
{
  GstEvent *event;

  while ((event = gst_harness_try_pull_upstream_event (h))) {
    if (GST_EVENT_TYPE (event) == GST_EVENT_NAVIGATION)
      return event;
    gst_event_unref (event);
  }
  return NULL;
}

GST_START_TEST (test_compare_navigation)
{
  GstElement *compare = make_element ("arcompare", NULL);
  GstHarness *real_h = gst_harness_new_with_element (compare, "sink_real", "src");
  GstHarness *pred_h = gst_harness_new_with_element (compare, "sink_pred", NULL);
  guint8 real[CMP_W * CMP_H * 3], pred[CMP_W * CMP_H * 3];
  GstEvent *event;
  const gchar *key;
  gdouble x, y;

  gst_object_unref (compare);
  make_pattern_pair (real, pred);
  gst_harness_set_src_caps_str (real_h, CMP_CAPS);
  gst_harness_set_src_caps_str (pred_h, CMP_CAPS);
  /* One pair, so that the element knows the input size. */
  gst_harness_push (real_h, make_rgb_frame (real, 0));
  gst_harness_push (pred_h, make_rgb_frame (pred, 0));
  gst_buffer_unref (gst_harness_pull (real_h));

  fail_unless (gst_harness_push_upstream_event (real_h,
          gst_navigation_event_new_key_press ("Up", GST_NAVIGATION_MODIFIER_NONE)));
  event = pull_navigation (real_h);
  fail_unless (event != NULL, "the key did not reach sink_real's upstream");
  fail_unless (gst_navigation_event_parse_key_event (event, &key));
  fail_unless_equals_string (key, "Up");
  gst_event_unref (event);
  event = pull_navigation (pred_h);
  fail_unless (event != NULL, "the key did not reach sink_pred's upstream");
  gst_event_unref (event);

  /* The right half (x >= 40) is the prediction, in its own coordinates. */
  fail_unless (gst_harness_push_upstream_event (real_h,
          gst_navigation_event_new_mouse_button_press (1, 50.0, 7.0,
              GST_NAVIGATION_MODIFIER_NONE)));
  fail_unless (pull_navigation (real_h) == NULL);
  event = pull_navigation (pred_h);
  fail_unless (event != NULL);
  fail_unless (gst_navigation_event_get_coordinates (event, &x, &y));
  fail_unless_equals_float (x, 10.0);
  fail_unless_equals_float (y, 7.0);
  gst_event_unref (event);
  fail_unless (gst_harness_push_upstream_event (real_h,
          gst_navigation_event_new_mouse_move (12.0, 3.0, GST_NAVIGATION_MODIFIER_NONE)));
  fail_unless (pull_navigation (pred_h) == NULL);
  event = pull_navigation (real_h);
  fail_unless (event != NULL);
  fail_unless (gst_navigation_event_get_coordinates (event, &x, &y));
  fail_unless_equals_float (x, 12.0);
  gst_event_unref (event);

  gst_harness_teardown (pred_h);
  gst_harness_teardown (real_h);
}
GST_END_TEST;

/* ---- pipelines -------------------------------------------------------------------------- */

/* The simulator through the model elements, compared with reality: the actions reach
 * arpredict as metas, every real frame but the first gets its one-step prediction. */
GST_START_TEST (test_pipeline_sim_predict)
{
  gchar *description = g_strdup_printf ("arsimsrc num-buffers=20 seed=1 ! tee name=t "
      "t. ! queue ! videoscale ! video/x-raw, width=16, height=16 ! c.sink_real "
      "t. ! queue ! videoscale ! video/x-raw, width=16, height=16 ! artokenize model=%s ! "
      "arpredict model=%s timestamp-mode=target seed=1 ! ardetokenize model=%s ! c.sink_pred "
      "arcompare name=c ! fakesink", TINY_SIM, TINY_SIM, TINY_SIM);
  GList *messages = run_to_eos (description, "arcompare", NULL), *l;
  guint i = 1;

  fail_unless_equals_int (g_list_length (messages), 19);
  for (l = messages; l; l = l->next, i++) {
    const GstStructure *s = gst_message_get_structure (l->data);
    guint64 pts;
    gdouble psnr;
    fail_unless (gst_structure_get_uint64 (s, "pts", &pts));
    fail_unless (gst_structure_get_double (s, "psnr", &psnr));
    fail_unless_equals_uint64 (pts, gst_util_uint64_scale (i, GST_SECOND, 15));
    fail_unless (psnr > 0 && psnr < 100);
  }
  g_list_free_full (messages, (GDestroyNotify) gst_message_unref);
  g_free (description);
}
GST_END_TEST;

/* ---- main ------------------------------------------------------------------------------- */

static Suite *
arvideo_sim_suite (void)
{
  Suite *s = suite_create ("arvideo-sim-elements");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_simsrc_determinism);
  tcase_add_test (tc, test_simsrc_caps);
  tcase_add_test (tc, test_simsrc_action_meta);
  tcase_add_test (tc, test_simsrc_action_property);
  tcase_add_test (tc, test_simsrc_keys);
  tcase_add_test (tc, test_simsrc_action_pad);
  tcase_add_test (tc, test_record_roundtrip);
  tcase_add_test (tc, test_record_errors);
  tcase_add_test (tc, test_compare_metrics);
  tcase_add_test (tc, test_compare_alignment);
  tcase_add_test (tc, test_compare_size_mismatch);
  tcase_add_test (tc, test_compare_navigation);
  tcase_add_test (tc, test_pipeline_sim_predict);
  return s;
}

int
main (int argc, char **argv)
{
  gst_check_init (&argc, &argv);
  return run_suite (arvideo_sim_suite ());
}
