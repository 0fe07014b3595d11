/* GstHarness tests of artokenize, arpredict and ardetokenize on the tiny fixture model
 * (16x16 RGB frames, 8x8 tokens, gpt predictor with 4 discrete actions).
 *
 * Run with CK_FORK=no and GST_TRACERS=leaks (meson does): all tests share one process, and
 * at exit the leaks tracer reports any object a test left alive, which fails the program. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <glib/gstdio.h>
#include <string.h>
#include "ar-action-meta.h"
#include "ar-context.h"
#include "element-test-util.h"

#define TINY_GPT FIXTURES_DIR "/tiny-gpt.yaml"
#define TINY_LLAMA FIXTURES_DIR "/tiny-llama.yaml"
#define N_TOKENS 64
#define FRAME_DURATION (GST_SECOND / 10)

/* ---- helpers ---------------------------------------------------------------------------- */

/* A harness around @element that owns it: the caller's reference passes to the harness. */
static GstHarness *
harness_take (GstElement *element, const gchar *sink, const gchar *src)
{
  GstHarness *h = gst_harness_new_with_element (element, sink, src);
  gst_object_unref (element);
  return h;
}

/* The text of the first ERROR on @bus, or NULL. */
static gchar *
pop_error_text (GstBus *bus)
{
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  GError *error = NULL;
  gchar *text;

  if (!msg)
    return NULL;
  gst_message_parse_error (msg, &error, NULL);
  text = g_strdup (error->message);
  g_error_free (error);
  gst_message_unref (msg);
  return text;
}

/* Consumes every pending ERROR on @bus; one of them must contain @needle. */
static void
assert_error_contains (GstBus *bus, const gchar *needle)
{
  GString *seen = g_string_new (NULL);
  gboolean found = FALSE;
  gchar *text;

  while ((text = pop_error_text (bus))) {
    found |= strstr (text, needle) != NULL;
    g_string_append_printf (seen, " \"%s\"", text);
    g_free (text);
  }
  if (!found) {
    gchar *errors = g_string_free (seen, FALSE);
    fail ("expected an error naming \"%s\", got:%s", needle, *errors ? errors : " none");
    g_free (errors);
  }
  g_string_free (seen, TRUE);
}

static GstBuffer *
make_frame (guint index, guint8 shade)
{
  GstBuffer *buffer = gst_buffer_new_allocate (NULL, 16 * 16 * 3, NULL);
  guint8 *pixels;
  GstMapInfo map;
  guint i;

  gst_buffer_map (buffer, &map, GST_MAP_WRITE);
  pixels = map.data;
  for (i = 0; i < map.size; i++)
    pixels[i] = (guint8) (shade + i * 7 + index * 13);
  gst_buffer_unmap (buffer, &map);
  GST_BUFFER_PTS (buffer) = index * FRAME_DURATION;
  GST_BUFFER_DURATION (buffer) = FRAME_DURATION;
  GST_BUFFER_OFFSET (buffer) = index;
  return buffer;
}

static GstBuffer *
make_token_frame_of (guint index, guint n_tokens)
{
  GstBuffer *buffer = gst_buffer_new_allocate (NULL, n_tokens * 4, NULL);
  GstMapInfo map;
  guint i;

  gst_buffer_map (buffer, &map, GST_MAP_WRITE);
  for (i = 0; i < n_tokens; i++)
    ((guint32 *) map.data)[i] = (i * 5 + index * 3) % 32;
  gst_buffer_unmap (buffer, &map);
  GST_BUFFER_PTS (buffer) = index * FRAME_DURATION;
  GST_BUFFER_DURATION (buffer) = FRAME_DURATION;
  GST_BUFFER_OFFSET (buffer) = index;
  return buffer;
}

static GstBuffer *
make_token_frame (guint index)
{
  return make_token_frame_of (index, N_TOKENS);
}

static const gchar *video_caps = "video/x-raw, format=RGB, width=16, height=16, framerate=10/1";

/* The token caps artokenize produces for the tiny model (fingerprint included). */
static GstCaps *
tiny_token_caps (void)
{
  GstHarness *h = harness_take (make_element ("artokenize", "model", TINY_GPT,
          NULL), "sink", "src");
  GstCaps *caps;

  gst_harness_set_src_caps_str (h, video_caps);
  gst_buffer_unref (gst_harness_push_and_pull (h, make_frame (0, 0)));
  caps = gst_pad_get_current_caps (h->sinkpad);
  gst_harness_teardown (h);
  return caps;
}

static GstHarness *
predict_harness (GstElement *predict)
{
  GstHarness *h = harness_take (predict, "sink", "src");
  gst_harness_set_src_caps (h, tiny_token_caps ());
  return h;
}

/* Pushes @n token frames through a greedy arpredict configured by @configure (may be NULL)
 * and returns the predictions (one per frame). */
typedef void (*ConfigurePredict) (GstElement *predict, GstHarness *h, guint frame,
    GstBuffer *buffer);

/* tiny-llama: a predictor-only card (4x4 tokens, 32 codes, continuous actions of dim 2). */
#define LLAMA_TOKENS 16
static const gchar *llama_token_caps =
    "application/x-ar-tokens, grid-width=4, grid-height=4, codebook-size=32, framerate=10/1";

/* The same with any card: @caps (taken) are the token caps, @n_tokens their frame size. */
static GPtrArray *
run_predict_with (const gchar *model, GstCaps *caps, guint n_tokens, guint n,
    const gchar *action_property, ConfigurePredict configure)
{
  GstElement *predict = make_element ("arpredict", "model", model, "greedy", TRUE, NULL);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  GstHarness *h;
  guint i;

  if (action_property)
    g_object_set (predict, "action", action_property, NULL);
  h = harness_take (predict, "sink", "src");
  gst_harness_set_src_caps (h, caps);
  for (i = 0; i < n; i++) {
    GstBuffer *frame = make_token_frame_of (i, n_tokens);
    if (configure)
      configure (predict, h, i, frame);
    fail_unless_equals_int (gst_harness_push (h, frame), GST_FLOW_OK);
    g_ptr_array_add (out, gst_harness_pull (h));
  }
  gst_harness_teardown (h);
  return out;
}

static GPtrArray *
run_predict (guint n, const gchar *action_property, ConfigurePredict configure)
{
  return run_predict_with (TINY_GPT, tiny_token_caps (), N_TOKENS, n, action_property,
      configure);
}

static GPtrArray *
run_llama (const gchar *model, guint n, const gchar *action_property,
    ConfigurePredict configure)
{
  return run_predict_with (model, gst_caps_from_string (llama_token_caps), LLAMA_TOKENS, n,
      action_property, configure);
}

/* A copy of fixture card @name with @extra appended, in a new temporary directory (its
 * weights stay the fixture's). Free with remove_card. */
static gchar *
write_card (const gchar *name, const gchar *extra)
{
  gchar *fixture = g_build_filename (FIXTURES_DIR, name, NULL);
  gchar *text = NULL, **lines, *dir, *path;
  GString *card = g_string_new (NULL);
  guint i;

  fail_unless (g_file_get_contents (fixture, &text, NULL, NULL));
  lines = g_strsplit (text, "\n", -1);
  for (i = 0; lines[i]; i++) {
    if (g_str_has_prefix (lines[i], "weights: "))
      g_string_append_printf (card, "weights: %s/%s\n", FIXTURES_DIR, lines[i] + 9);
    else if (*lines[i])
      g_string_append_printf (card, "%s\n", lines[i]);
  }
  g_string_append (card, extra);
  dir = g_dir_make_tmp ("arvideo-XXXXXX", NULL);
  path = g_build_filename (dir, name, NULL);
  fail_unless (g_file_set_contents (path, card->str, -1, NULL));
  g_string_free (card, TRUE);
  g_strfreev (lines);
  g_free (text);
  g_free (fixture);
  g_free (dir);
  return path;
}

static void
remove_card (gchar *path)
{
  gchar *dir = g_path_get_dirname (path);
  g_unlink (path);
  g_rmdir (dir);
  g_free (dir);
  g_free (path);
}

static void
assert_runs_equal (GPtrArray *a, GPtrArray *b)
{
  guint i;
  fail_unless_equals_int (a->len, b->len);
  for (i = 0; i < a->len; i++)
    fail_unless (buffers_equal (a->pdata[i], b->pdata[i]), "predictions differ at %u", i);
}

/* ---- artokenize / ardetokenize ---------------------------------------------------------- */

GST_START_TEST (test_tokenize_caps)
{
  GstHarness *h = harness_take (make_element ("artokenize", "model", TINY_GPT,
          NULL), "sink", "src");
  GstCaps *caps, *peer;
  const GstStructure *s;
  gint v;

  /* Once started, the sink caps name the model's resolution. */
  peer = gst_pad_peer_query_caps (h->srcpad, NULL);
  s = gst_caps_get_structure (peer, 0);
  fail_unless (gst_structure_get_int (s, "width", &v) && v == 16);
  fail_unless (gst_structure_get_int (s, "height", &v) && v == 16);
  gst_caps_unref (peer);

  gst_harness_set_src_caps_str (h, video_caps);
  gst_buffer_unref (gst_harness_push_and_pull (h, make_frame (0, 0)));
  caps = gst_pad_get_current_caps (h->sinkpad);
  s = gst_caps_get_structure (caps, 0);
  fail_unless (gst_structure_has_name (s, "application/x-ar-tokens"));
  fail_unless (gst_structure_get_int (s, "grid-width", &v) && v == 8);
  fail_unless (gst_structure_get_int (s, "grid-height", &v) && v == 8);
  fail_unless (gst_structure_get_int (s, "codebook-size", &v) && v == 32);
  fail_unless (gst_structure_get_string (s, "fingerprint") != NULL);
  fail_unless (gst_structure_has_field (s, "framerate"));
  gst_caps_unref (caps);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_tokenize_refuses_size)
{
  GstElement *tokenize = make_element ("artokenize", "model", TINY_GPT, NULL);
  GstBus *bus = attach_bus (tokenize);
  GstHarness *h = harness_take (tokenize, "sink", "src");

  gst_harness_set_src_caps_str (h, "video/x-raw, format=RGB, width=32, height=24, "
      "framerate=10/1");
  fail_unless_equals_int (gst_harness_push (h, make_frame (0, 0)), GST_FLOW_NOT_NEGOTIATED);
  assert_error_contains (bus, "needs 16x16");
  gst_harness_teardown (h);
  release_bus (bus);
}
GST_END_TEST;

GST_START_TEST (test_tokenize_timestamps_metas)
{
  GstHarness *h = harness_take (make_element ("artokenize", "model", TINY_GPT,
          NULL), "sink", "src");
  GstBuffer *in = make_frame (3, 40), *out;
  ArActionMeta *meta;

  ar_buffer_add_action_meta_discrete (in, 2);
  gst_harness_set_src_caps_str (h, video_caps);
  out = gst_harness_push_and_pull (h, in);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 3 * FRAME_DURATION);
  fail_unless_equals_uint64 (GST_BUFFER_DURATION (out), FRAME_DURATION);
  fail_unless_equals_int (gst_buffer_get_size (out), N_TOKENS * 4);
  meta = ar_buffer_get_action_meta (out);
  fail_unless (meta != NULL && meta->discrete && meta->index == 2);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_detokenize_roundtrip)
{
  GstHarness *h = harness_take (make_element ("ardetokenize", "model",
          TINY_GPT, NULL), "sink", "src");
  GstBuffer *out;
  GstCaps *caps;
  GstVideoInfo info;

  gst_harness_set_src_caps (h, tiny_token_caps ());
  out = gst_harness_push_and_pull (h, make_token_frame (1));
  caps = gst_pad_get_current_caps (h->sinkpad);
  fail_unless (gst_video_info_from_caps (&info, caps));
  fail_unless_equals_int (GST_VIDEO_INFO_WIDTH (&info), 16);
  fail_unless_equals_int (GST_VIDEO_INFO_HEIGHT (&info), 16);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), FRAME_DURATION);
  fail_unless_equals_int (gst_buffer_get_size (out), GST_VIDEO_INFO_SIZE (&info));
  gst_caps_unref (caps);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_detokenize_refuses_foreign_tokens)
{
  GstElement *detokenize = make_element ("ardetokenize", "model", TINY_GPT, NULL);
  GstBus *bus = attach_bus (detokenize);
  GstHarness *h = harness_take (detokenize, "sink", "src");

  gst_harness_set_src_caps_str (h, "application/x-ar-tokens, grid-width=8, grid-height=8, "
      "codebook-size=32, fingerprint=0123456789abcdef, framerate=10/1");
  fail_unless_equals_int (gst_harness_push (h, make_token_frame (0)), GST_FLOW_NOT_NEGOTIATED);
  assert_error_contains (bus, "0123456789abcdef");
  gst_harness_teardown (h);
  release_bus (bus);
}
GST_END_TEST;

/* ---- arpredict -------------------------------------------------------------------------- */

GST_START_TEST (test_predict_basic)
{
  GstElement *predict = make_element ("arpredict", "model", TINY_GPT, NULL);
  GstHarness *h = predict_harness (predict);
  GstBuffer *out;
  ArPredictionMeta *meta;

  out = gst_harness_push_and_pull (h, make_token_frame (4));
  fail_unless_equals_int (gst_buffer_get_size (out), N_TOKENS * 4);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 4 * FRAME_DURATION);
  meta = ar_buffer_get_prediction_meta (out);
  fail_unless (meta != NULL);
  fail_unless_equals_uint64 (meta->source_pts, 4 * FRAME_DURATION);
  fail_unless_equals_uint64 (meta->source_offset, 4);
  fail_unless_equals_int (meta->step, 1);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_predict_horizon_target_timestamps)
{
  GstElement *predict = make_element ("arpredict", "model", TINY_GPT, "horizon", 3,
      "timestamp-mode", 1, NULL);
  GstHarness *h = predict_harness (predict);
  guint k;

  fail_unless_equals_int (gst_harness_push (h, make_token_frame (2)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 3);
  for (k = 1; k <= 3; k++) {
    GstBuffer *out = gst_harness_pull (h);
    ArPredictionMeta *meta = ar_buffer_get_prediction_meta (out);
    fail_unless_equals_int (meta->step, k);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (out), (2 + k) * FRAME_DURATION);
    gst_buffer_unref (out);
  }
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_predict_dream)
{
  GstElement *predict = make_element ("arpredict", "model", TINY_GPT, "dream", TRUE,
      "greedy", TRUE, NULL);
  GstHarness *h = predict_harness (predict);
  gboolean dreamed[5];
  guint i;

  for (i = 0; i < 5; i++) {
    GstBuffer *out = gst_harness_push_and_pull (h, make_token_frame (i));
    ArPredictionMeta *meta = ar_buffer_get_prediction_meta (out);
    dreamed[i] = meta->dreamed;
    fail_unless_equals_uint64 (GST_BUFFER_PTS (out), i * FRAME_DURATION);
    gst_buffer_unref (out);
  }
  /* context_frames 3: two real frames prime it, then it rolls out on its own. */
  fail_unless (!dreamed[0] && !dreamed[1]);
  fail_unless (dreamed[2] && dreamed[3] && dreamed[4]);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Pushes token frames 0..n-1 into @predict (taken) and returns the @per_frame predictions
 * pulled after each. The one-token steps per op: on GPUs the default lets a timed trial pick
 * them or the fused step for each load of the model, and the two round differently, so two
 * runs to be compared byte for byte must not leave it to timing. */
static GPtrArray *
collect_predictions (GstElement *predict, guint n, guint per_frame)
{
  g_setenv ("AR_PREDICTOR_FUSED_STEP", "0", TRUE);
  GstHarness *h = predict_harness (predict);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  guint i, k;
  for (i = 0; i < n; i++) {
    gst_harness_push (h, make_token_frame (i));
    for (k = 0; k < per_frame; k++)
      g_ptr_array_add (out, gst_harness_pull (h));
  }
  gst_harness_teardown (h);
  g_unsetenv ("AR_PREDICTOR_FUSED_STEP");
  return out;
}

GST_START_TEST (test_predict_seed_determinism)
{
  GPtrArray *runs[2];
  guint r;

  for (r = 0; r < 2; r++)
    runs[r] = collect_predictions (make_element ("arpredict", "model", TINY_GPT, "seed",
            G_GUINT64_CONSTANT (1234), "temperature", 1.5f, "horizon", 2, NULL), 4, 2);
  assert_runs_equal (runs[0], runs[1]);
  g_ptr_array_unref (runs[0]);
  g_ptr_array_unref (runs[1]);
}
GST_END_TEST;

/* The prefill-positions of the metrics messages after @n frames (the predictions of frames
 * 0..n-2), with rollouts of @rollout frames at the even frames (horizon changed while
 * playing; 1: none). */
static GArray *
prefill_positions (gboolean ahead, const gchar *policy, guint n, guint rollout)
{
  GstElement *predict = make_element ("arpredict", "model", TINY_GPT, "greedy", TRUE,
      "post-metrics", TRUE, "prefill-ahead", ahead, NULL);
  gst_util_set_object_arg (G_OBJECT (predict), "context-policy", policy);
  GstBus *bus = attach_bus (predict);
  GstHarness *h = predict_harness (predict);
  GArray *out = g_array_new (FALSE, FALSE, sizeof (guint));
  GstMessage *msg;
  guint i, positions;

  for (i = 0; i < n; i++) {
    guint k, horizon = i % 2 == 0 ? rollout : 1;
    g_object_set (predict, "horizon", horizon, NULL);
    gst_harness_push (h, make_token_frame (i));
    for (k = 0; k < horizon; k++)
      gst_buffer_unref (gst_harness_pull (h));
  }
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    if (gst_structure_get_uint (gst_message_get_structure (msg), "prefill-positions",
            &positions))
      g_array_append_val (out, positions);
    gst_message_unref (msg);
  }
  gst_harness_teardown (h);
  release_bus (bus);
  return out;
}

/* With prefill-ahead each prediction after the third frame runs only the new frame's 65
 * positions (tiny-gpt: 64 tokens and an action) before its steps; without, ~its whole window
 * of 2 frames. After a 3-frame rollout too, whose last window put a predicted frame at
 * position 0, where the next window's first frame goes (the metrics of a rollout give its
 * last frame's prefill, so only the single predictions after one are checked there). */
GST_START_TEST (test_predict_prefill_ahead_runs)
{
  guint rollout, i;

  for (rollout = 1; rollout <= 3; rollout += 2) {
    GArray *on = prefill_positions (TRUE, "slide", 8, rollout);
    GArray *off = prefill_positions (FALSE, "slide", 8, rollout);

    fail_unless_equals_int (on->len, 7);
    fail_unless_equals_int (off->len, 7);
    for (i = 2; i < 7; i++) {
      if (rollout > 1 && i % 2 == 0)
        continue;
      fail_unless_equals_int (g_array_index (on, guint, i), 65);
      fail_unless (g_array_index (off, guint, i) > 65, "rollouts of %u: prediction %u "
          "prefilled %u positions", rollout, i, g_array_index (off, guint, i));
    }
    g_array_unref (on);
    g_array_unref (off);
  }
}
GST_END_TEST;

/* prefill-ahead moves work between frames, never changes a prediction: the same greedy
 * predictions with it on (the default) and off, over a window that slides. */
GST_START_TEST (test_predict_prefill_ahead_same)
{
  GPtrArray *runs[2];
  guint r;
  gboolean ahead;

  for (r = 0; r < 2; r++) {
    GstElement *predict = make_element ("arpredict", "model", TINY_GPT, "greedy", TRUE,
        "prefill-ahead", r == 0, NULL);
    g_object_get (predict, "prefill-ahead", &ahead, NULL);
    fail_unless_equals_int (ahead, r == 0);
    runs[r] = collect_predictions (predict, 6, 1);
  }
  assert_runs_equal (runs[0], runs[1]);
  g_ptr_array_unref (runs[0]);
  g_ptr_array_unref (runs[1]);
}
GST_END_TEST;

/* context-policy=refresh (IRIS's cache): every prediction runs only its frame's 65 positions
 * before its steps, with or without prefill-ahead; the first two (windows of 1 and 2 frames under
 * both policies) equal slide's, and once slide's window slides (2 frames) while refresh's
 * restarts (1) they differ. */
GST_START_TEST (test_predict_context_refresh)
{
  GPtrArray *runs[2];
  guint i, r, differ = 0;
  gint policy;

  /* Without prefill-ahead and with it (the default): 65 positions, or fewer where a frame's
   * first tokens happen to be the cached prediction's. */
  for (r = 0; r < 2; r++) {
    GArray *positions = prefill_positions (r == 1, "refresh", 6, 1);
    fail_unless_equals_int (positions->len, 5);
    for (i = 0; i < positions->len; i++) {
      guint n = g_array_index (positions, guint, i);
      fail_unless (n >= 1 && n <= 65, "prediction %u prefilled %u positions", i, n);
    }
    g_array_unref (positions);
  }
  for (r = 0; r < 2; r++) {
    GstElement *predict = make_element ("arpredict", "model", TINY_GPT, "greedy", TRUE,
        "prefill-ahead", FALSE, NULL);
    gst_util_set_object_arg (G_OBJECT (predict), "context-policy", r ? "refresh" : "slide");
    g_object_get (predict, "context-policy", &policy, NULL);
    GEnumClass *klass = g_type_class_ref (g_type_from_name ("GstArPredictContextPolicy"));
    fail_unless_equals_string (g_enum_get_value (klass, policy)->value_nick,
        r ? "refresh" : "slide");
    g_type_class_unref (klass);
    runs[r] = collect_predictions (predict, 6, 1);
  }
  fail_unless (buffers_equal (runs[0]->pdata[0], runs[1]->pdata[0]));
  fail_unless (buffers_equal (runs[0]->pdata[1], runs[1]->pdata[1]));
  for (i = 2; i < 6; i++)
    differ += !buffers_equal (runs[0]->pdata[i], runs[1]->pdata[i]);
  fail_unless (differ > 0, "refresh predicted what slide did");
  g_ptr_array_unref (runs[0]);
  g_ptr_array_unref (runs[1]);
}
GST_END_TEST;

GST_START_TEST (test_predict_flush_resets_context)
{
  GstElement *predict = make_element ("arpredict", "model", TINY_GPT, "seed",
      G_GUINT64_CONSTANT (7), NULL);
  GstHarness *h = predict_harness (predict);
  GstBuffer *first, *again;
  GstSegment segment;

  first = gst_harness_push_and_pull (h, make_token_frame (0));
  gst_buffer_unref (gst_harness_push_and_pull (h, make_token_frame (1)));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_segment_init (&segment, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&segment)));
  /* After the flush the same first frame gives the same prediction: nothing remembered. */
  again = gst_harness_push_and_pull (h, make_token_frame (0));
  fail_unless (buffers_equal (first, again));
  fail_unless (GST_BUFFER_FLAG_IS_SET (again, GST_BUFFER_FLAG_DISCONT));
  gst_buffer_unref (first);
  gst_buffer_unref (again);

  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  {
    GstEvent *event;
    gboolean saw_eos = FALSE;
    while ((event = gst_harness_try_pull_event (h))) {
      saw_eos |= GST_EVENT_TYPE (event) == GST_EVENT_EOS;
      gst_event_unref (event);
    }
    fail_unless (saw_eos);
  }
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Action sources: each on its own, and their precedence. */
static void
add_meta_action_2 (GstElement *predict, GstHarness *h, guint frame, GstBuffer *buffer)
{
  ar_buffer_add_action_meta_discrete (buffer, 2);
}

static void
press_right_key (GstElement *predict, GstHarness *h, guint frame, GstBuffer *buffer)
{
  if (frame == 0)
    fail_unless (gst_harness_push_upstream_event (h,
            gst_navigation_event_new_key_press ("Right", GST_NAVIGATION_MODIFIER_NONE)));
}

static GstHarness *action_harness;

static void
push_pad_action_3_and_meta_2 (GstElement *predict, GstHarness *h, guint frame,
    GstBuffer *buffer)
{
  GstBuffer *action = gst_buffer_new_allocate (NULL, 4, NULL);
  gint32 index = 3;

  if (frame == 0) {
    action_harness = gst_harness_new_with_element (predict, "action", NULL);
    gst_harness_set_src_caps_str (action_harness,
        "application/x-ar-action, format=S32, dim=1");
  }
  gst_buffer_fill (action, 0, &index, 4);
  GST_BUFFER_PTS (action) = frame * FRAME_DURATION;
  fail_unless_equals_int (gst_harness_push (action_harness, action), GST_FLOW_OK);
  ar_buffer_add_action_meta_discrete (buffer, 2);
}

GST_START_TEST (test_predict_action_sources)
{
  GPtrArray *property1 = run_predict (3, "1", NULL);
  GPtrArray *property2 = run_predict (3, "2", NULL);
  GPtrArray *property3 = run_predict (3, "3", NULL);
  GPtrArray *run;

  /* Precedence is read off outputs: different actions must give different predictions
   * (true of the tiny fixture model with this seed; checked here so the rest means something). */
  fail_if (buffers_equal (property1->pdata[0], property2->pdata[0]));

  run = run_predict (3, NULL, add_meta_action_2);          /* meta alone */
  assert_runs_equal (run, property2);
  g_ptr_array_unref (run);
  run = run_predict (3, "1", add_meta_action_2);           /* meta beats property */
  assert_runs_equal (run, property2);
  g_ptr_array_unref (run);
  run = run_predict (3, NULL, press_right_key);            /* keyboard: Right = 1 */
  assert_runs_equal (run, property1);
  g_ptr_array_unref (run);
  run = run_predict (3, "2", press_right_key);             /* property beats keyboard */
  assert_runs_equal (run, property2);
  g_ptr_array_unref (run);
  run = run_predict (3, "1", push_pad_action_3_and_meta_2); /* pad beats meta and property */
  gst_harness_teardown (action_harness);
  action_harness = NULL;
  assert_runs_equal (run, property3);
  g_ptr_array_unref (run);

  g_ptr_array_unref (property1);
  g_ptr_array_unref (property2);
  g_ptr_array_unref (property3);
}
GST_END_TEST;

static const gchar *key_to_press;

static void
press_key (GstElement *predict, GstHarness *h, guint frame, GstBuffer *buffer)
{
  if (frame == 0)
    fail_unless (gst_harness_push_upstream_event (h,
            gst_navigation_event_new_key_press (key_to_press, GST_NAVIGATION_MODIFIER_NONE)));
  if (frame == 2)   /* released: back to the default action */
    fail_unless (gst_harness_push_upstream_event (h,
            gst_navigation_event_new_key_release (key_to_press, GST_NAVIGATION_MODIFIER_NONE)));
}

GST_START_TEST (test_predict_card_keys_discrete)
{
  gchar *card = write_card ("tiny-gpt.yaml", "keys:\n  space: 3\n  a: 2\n");
  GPtrArray *action3 = run_predict (2, "3", NULL);
  GPtrArray *action0 = run_predict (2, "0", NULL);
  GPtrArray *run;

  fail_if (buffers_equal (action3->pdata[0], action0->pdata[0]));
  key_to_press = "space";
  run = run_predict_with (card, tiny_token_caps (), N_TOKENS, 2, NULL, press_key);
  assert_runs_equal (run, action3);
  g_ptr_array_unref (run);
  /* The card's table replaces the arrows: Right (1 by default) does nothing here. */
  key_to_press = "Right";
  run = run_predict_with (card, tiny_token_caps (), N_TOKENS, 2, NULL, press_key);
  assert_runs_equal (run, action0);
  g_ptr_array_unref (run);

  g_ptr_array_unref (action3);
  g_ptr_array_unref (action0);
  remove_card (card);
}
GST_END_TEST;

GST_START_TEST (test_predict_card_keys_continuous)
{
  gchar *card = write_card ("tiny-llama.yaml", "keys:\n  Up: [0.5, -0.25]\n");
  GPtrArray *up = run_llama (TINY_LLAMA, 3, "0.5,-0.25", NULL);
  GPtrArray *left = run_llama (TINY_LLAMA, 3, "-1,0", NULL);
  GPtrArray *zero = run_llama (TINY_LLAMA, 3, "0,0", NULL);
  GPtrArray *image_up = run_llama (TINY_LLAMA, 2, "0,-1", NULL);
  GPtrArray *image_down = run_llama (TINY_LLAMA, 2, "0,1", NULL);
  GPtrArray *run;

  fail_if (buffers_equal (image_up->pdata[0], image_down->pdata[0]));
  fail_if (buffers_equal (up->pdata[0], zero->pdata[0]));
  fail_if (buffers_equal (left->pdata[0], zero->pdata[0]));
  fail_if (buffers_equal (up->pdata[0], left->pdata[0]));

  key_to_press = "Up";
  run = run_llama (card, 3, NULL, press_key);
  /* Up held for frames 0 and 1, released before frame 2 (the zero action). */
  fail_unless (buffers_equal (run->pdata[0], up->pdata[0]));
  fail_unless (buffers_equal (run->pdata[1], up->pdata[1]));
  fail_if (buffers_equal (run->pdata[2], up->pdata[2]));
  g_ptr_array_unref (run);
  /* Without a table, the arrows: Left = (-1, 0). */
  key_to_press = "Left";
  run = run_llama (TINY_LLAMA, 2, NULL, press_key);
  assert_runs_equal (run, (g_ptr_array_set_size (left, 2), left));
  g_ptr_array_unref (run);
  /* Image coordinates (y down, as arsimsrc): Up = (0, -1), Down = (0, 1). */
  key_to_press = "Up";
  run = run_llama (TINY_LLAMA, 2, NULL, press_key);
  fail_if (buffers_equal (run->pdata[0], zero->pdata[0]));
  assert_runs_equal (run, (g_ptr_array_set_size (image_up, 2), image_up));
  g_ptr_array_unref (run);
  /* An empty action string clears the property: the zero action, not an error. */
  run = run_llama (TINY_LLAMA, 2, "", NULL);
  assert_runs_equal (run, (g_ptr_array_set_size (zero, 2), zero));
  g_ptr_array_unref (run);
  key_to_press = "Down";
  run = run_llama (TINY_LLAMA, 2, NULL, press_key);
  assert_runs_equal (run, (g_ptr_array_set_size (image_down, 2), image_down));
  g_ptr_array_unref (run);

  g_ptr_array_unref (up);
  g_ptr_array_unref (left);
  g_ptr_array_unref (zero);
  g_ptr_array_unref (image_up);
  g_ptr_array_unref (image_down);
  remove_card (card);
}
GST_END_TEST;

GST_START_TEST (test_error_card_key_size)
{
  gchar *card = write_card ("tiny-llama.yaml", "keys:\n  Up: [1, 2, 3]\n");
  GstElement *predict = make_element ("arpredict", "model", card, NULL);
  GstBus *bus = attach_bus (predict);

  fail_unless_equals_int (gst_element_set_state (predict, GST_STATE_PAUSED),
      GST_STATE_CHANGE_FAILURE);
  assert_error_contains (bus, "keys.Up: 3 values, but predictor.action.dim is 2");
  gst_element_set_state (predict, GST_STATE_NULL);
  gst_object_unref (predict);
  release_bus (bus);
  remove_card (card);
}
GST_END_TEST;

/* ---- waiting for the action pad -------------------------------------------------------- */

static void
push_action (GstHarness *ah, gint32 index, GstClockTime pts)
{
  GstBuffer *action = gst_buffer_new_allocate (NULL, 4, NULL);

  gst_buffer_fill (action, 0, &index, 4);
  GST_BUFFER_PTS (action) = pts;
  fail_unless_equals_int (gst_harness_push (ah, action), GST_FLOW_OK);
}

typedef struct {
  GstHarness *h;
  GstBuffer *frame;
  GstFlowReturn ret;
} PushJob;

static gpointer
push_in_thread (gpointer data)
{
  PushJob *job = data;
  job->ret = gst_harness_push (job->h, job->frame);
  return NULL;
}

static void
meta_actions_1_then_3 (GstElement *predict, GstHarness *h, guint frame, GstBuffer *buffer)
{
  ar_buffer_add_action_meta_discrete (buffer, frame == 0 ? 1 : 3);
}

/* arpredict with an action pad (S32, dim 1) and the given action-timeout. */
static GstHarness *
predict_with_action_pad (guint timeout_ms, GstHarness **ah)
{
  GstElement *predict = make_element ("arpredict", "model", TINY_GPT, "greedy", TRUE,
      "action-timeout", timeout_ms, NULL);
  GstHarness *h = predict_harness (predict);

  *ah = gst_harness_new_with_element (predict, "action", NULL);
  gst_harness_set_src_caps_str (*ah, "application/x-ar-action, format=S32, dim=1");
  return h;
}

GST_START_TEST (test_predict_action_pad_waits)
{
  GPtrArray *stale = run_predict (2, "1", NULL);              /* actions 1, 1 */
  GPtrArray *fresh = run_predict (2, NULL, meta_actions_1_then_3);   /* actions 1, 3 */
  GstHarness *h, *ah;
  GstBuffer *out;
  PushJob job;
  GThread *thread;
  gint64 started;

  fail_if (buffers_equal (stale->pdata[1], fresh->pdata[1]));

  /* The action for frame 1 comes after the frame: the frame waits for it. */
  h = predict_with_action_pad (10000, &ah);
  push_action (ah, 1, 0);
  out = gst_harness_push_and_pull (h, make_token_frame (0));
  fail_unless (buffers_equal (out, fresh->pdata[0]));
  gst_buffer_unref (out);
  job = (PushJob) { h, make_token_frame (1), GST_FLOW_ERROR };
  thread = g_thread_new ("frame", push_in_thread, &job);
  g_usleep (200 * G_TIME_SPAN_MILLISECOND);
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 0);
  push_action (ah, 3, FRAME_DURATION);
  g_thread_join (thread);
  fail_unless_equals_int (job.ret, GST_FLOW_OK);
  out = gst_harness_pull (h);
  fail_unless (buffers_equal (out, fresh->pdata[1]), "the late action was not used");
  gst_buffer_unref (out);
  gst_harness_teardown (ah);
  gst_harness_teardown (h);

  /* No action comes: after action-timeout the latest one applies. */
  h = predict_with_action_pad (300, &ah);
  push_action (ah, 1, 0);
  gst_buffer_unref (gst_harness_push_and_pull (h, make_token_frame (0)));
  started = g_get_monotonic_time ();
  out = gst_harness_push_and_pull (h, make_token_frame (1));
  fail_unless (g_get_monotonic_time () - started >= 250 * G_TIME_SPAN_MILLISECOND);
  fail_unless (buffers_equal (out, stale->pdata[1]));
  gst_buffer_unref (out);
  gst_harness_teardown (ah);
  gst_harness_teardown (h);

  /* EOS on the action pad: no more waiting. */
  h = predict_with_action_pad (60000, &ah);
  push_action (ah, 1, 0);
  gst_buffer_unref (gst_harness_push_and_pull (h, make_token_frame (0)));
  fail_unless (gst_harness_push_event (ah, gst_event_new_eos ()));
  started = g_get_monotonic_time ();
  out = gst_harness_push_and_pull (h, make_token_frame (1));
  fail_unless (g_get_monotonic_time () - started < 10 * G_TIME_SPAN_SECOND);
  fail_unless (buffers_equal (out, stale->pdata[1]));
  gst_buffer_unref (out);
  gst_harness_teardown (ah);
  gst_harness_teardown (h);

  g_ptr_array_unref (stale);
  g_ptr_array_unref (fresh);
}
GST_END_TEST;

GST_START_TEST (test_predict_action_wait_unblocks)
{
  GstHarness *h, *ah;
  GstSegment segment;
  PushJob job;
  GThread *thread;
  gint64 started;

  /* A flush of the frames ends the wait: the frame is dropped. */
  h = predict_with_action_pad (60000, &ah);
  job = (PushJob) { h, make_token_frame (0), GST_FLOW_OK };
  started = g_get_monotonic_time ();
  thread = g_thread_new ("frame", push_in_thread, &job);
  g_usleep (100 * G_TIME_SPAN_MILLISECOND);
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  g_thread_join (thread);
  fail_unless_equals_int (job.ret, GST_FLOW_FLUSHING);
  fail_unless (g_get_monotonic_time () - started < 10 * G_TIME_SPAN_SECOND);
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 0);
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_segment_init (&segment, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&segment)));

  /* Unlinking the action pad (the application drops its action source) ends it too. */
  job = (PushJob) { h, make_token_frame (0), GST_FLOW_ERROR };
  thread = g_thread_new ("frame", push_in_thread, &job);
  g_usleep (100 * G_TIME_SPAN_MILLISECOND);
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 0);
  gst_harness_teardown (ah);
  g_thread_join (thread);
  fail_unless_equals_int (job.ret, GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 1);
  fail_unless (g_get_monotonic_time () - started < 20 * G_TIME_SPAN_SECOND);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_predict_metrics)
{
  GstElement *predict = make_element ("arpredict", "model", TINY_GPT, "post-metrics", TRUE,
      NULL);
  GstBus *bus = attach_bus (predict);
  GstHarness *h = predict_harness (predict);
  GstMessage *msg;
  gdouble accuracy = -1;

  gst_buffer_unref (gst_harness_push_and_pull (h, make_token_frame (0)));
  gst_buffer_unref (gst_harness_push_and_pull (h, make_token_frame (1)));
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
  fail_unless (msg != NULL);
  fail_unless (gst_structure_has_name (gst_message_get_structure (msg), "ar-predict-metrics"));
  fail_unless (gst_structure_get_double (gst_message_get_structure (msg), "token-accuracy",
          &accuracy));
  fail_unless (accuracy >= 0.0 && accuracy <= 1.0);
  gst_message_unref (msg);
  gst_harness_teardown (h);
  release_bus (bus);
}
GST_END_TEST;

GST_START_TEST (test_predict_latency_query)
{
  GstElement *predict = make_element ("arpredict", "model", TINY_GPT, NULL);
  GstHarness *h = predict_harness (predict);
  GstQuery *query = gst_query_new_latency ();

  gst_buffer_unref (gst_harness_push_and_pull (h, make_token_frame (0)));
  /* The harness answers upstream latency queries itself; arpredict adds its own. */
  gst_harness_set_upstream_latency (h, 10 * GST_MSECOND);
  fail_unless (gst_pad_peer_query (h->sinkpad, query));
  {
    gboolean live;
    GstClockTime min, max;
    gst_query_parse_latency (query, &live, &min, &max);
    fail_unless (min >= 10 * GST_MSECOND);
  }
  gst_query_unref (query);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Pushes token frames @indices (greedy) and returns the last prediction. */
static GstBuffer *
last_prediction_after (const guint *indices, guint n)
{
  GstHarness *h = predict_harness (make_element ("arpredict", "model", TINY_GPT, "greedy",
          TRUE, NULL));
  GstBuffer *out = NULL;
  guint i;

  for (i = 0; i < n; i++) {
    if (out)
      gst_buffer_unref (out);
    out = gst_harness_push_and_pull (h, make_token_frame (indices[i]));
  }
  gst_harness_teardown (h);
  return out;
}

GST_START_TEST (test_predict_qos_drops_late_predictions)
{
  GstElement *predict = make_element ("arpredict", "model", TINY_GPT, "greedy", TRUE, NULL);
  GstBus *bus = attach_bus (predict);
  GstHarness *h = predict_harness (predict);
  GstBuffer *out, *expected, *without_dropped;
  GstMessage *msg;
  GstFormat format;
  guint64 processed, dropped;
  const guint all[] = { 0, 1, 25 }, skipping[] = { 0, 25 };

  gst_buffer_unref (gst_harness_push_and_pull (h, make_token_frame (0)));
  /* Downstream: the buffer at 0 came 1 s late. arpredict skips predictions until 2 s. */
  fail_unless (gst_harness_push_upstream_event (h,
          gst_event_new_qos (GST_QOS_TYPE_UNDERFLOW, 2.0, GST_SECOND, 0)));
  fail_unless_equals_int (gst_harness_push (h, make_token_frame (1)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 0);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_QOS);
  fail_unless (msg != NULL, "no QoS message for the dropped prediction");
  gst_message_parse_qos_stats (msg, &format, &processed, &dropped);
  fail_unless_equals_int (format, GST_FORMAT_BUFFERS);
  fail_unless_equals_uint64 (processed, 1);
  fail_unless_equals_uint64 (dropped, 1);
  gst_message_unref (msg);

  /* Past the late period predictions come again, marked discontinuous; the dropped frame
   * still went into the context. */
  out = gst_harness_push_and_pull (h, make_token_frame (25));
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 25 * FRAME_DURATION);
  fail_unless (GST_BUFFER_FLAG_IS_SET (out, GST_BUFFER_FLAG_DISCONT));
  expected = last_prediction_after (all, G_N_ELEMENTS (all));
  without_dropped = last_prediction_after (skipping, G_N_ELEMENTS (skipping));
  fail_if (buffers_equal (expected, without_dropped));
  fail_unless (buffers_equal (out, expected));
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_QOS);
  fail_if (msg != NULL, "a QoS message for a prediction that was not dropped");
  gst_buffer_unref (out);
  gst_buffer_unref (expected);
  gst_buffer_unref (without_dropped);
  gst_harness_teardown (h);
  release_bus (bus);
}
GST_END_TEST;

/* ---- device sharing --------------------------------------------------------------------- */

/* The device in the element's answer to a context query on @pad (a new reference). */
static ArDevice *
device_of (GstElement *element, const gchar *pad_name)
{
  GstPad *pad = gst_element_get_static_pad (element, pad_name);
  GstQuery *query = gst_query_new_context (AR_DEVICE_CONTEXT_TYPE);
  GstContext *context = NULL;
  ArDevice *device = NULL;

  if (gst_pad_query (pad, query)) {
    gst_query_parse_context (query, &context);
    device = context ? ar_device_context_get_device (context) : NULL;
  }
  gst_query_unref (query);
  gst_object_unref (pad);
  return device;
}

GST_START_TEST (test_context_from_application)
{
  GError *error = NULL;
  ArDevice *device = ar_device_new (&error), *used;
  GstContext *context;
  GstElement *pipeline, *element;
  GstMessage *msg;
  const gchar *names[] = { "tokenize", "predict", "detokenize" };
  gchar *description;
  guint i;

  fail_unless (device != NULL, "no device: %s", error ? error->message : "");
  description = g_strdup_printf ("videotestsrc num-buffers=3 ! videoconvert ! videoscale ! "
      "artokenize name=tokenize model=%s ! arpredict name=predict model=%s ! "
      "ardetokenize name=detokenize model=%s ! fakesink", TINY_GPT, TINY_GPT, TINY_GPT);
  pipeline = gst_parse_launch (description, NULL);
  g_free (description);
  fail_unless (pipeline != NULL);

  /* The application hands its device over before the pipeline starts. */
  context = ar_device_context_new (device);
  gst_element_set_context (pipeline, context);
  gst_context_unref (context);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  /* None asks for a device or announces one of its own. */
  while ((msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (pipeline), 60 * GST_SECOND,
              GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_NEED_CONTEXT
              | GST_MESSAGE_HAVE_CONTEXT))) {
    GstMessageType type = GST_MESSAGE_TYPE (msg);
    gst_message_unref (msg);
    fail_if (type == GST_MESSAGE_ERROR, "the pipeline failed");
    fail_if (type == GST_MESSAGE_NEED_CONTEXT || type == GST_MESSAGE_HAVE_CONTEXT,
        "an element asked for or announced a device");
    if (type == GST_MESSAGE_EOS)
      break;
  }

  /* Every element runs on it. */
  for (i = 0; i < G_N_ELEMENTS (names); i++) {
    element = gst_bin_get_by_name (GST_BIN (pipeline), names[i]);
    used = device_of (element, "src");
    fail_unless (used == device, "%s does not use the application's device", names[i]);
    ar_device_unref (used);
    gst_object_unref (element);
  }

  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  fail_unless_equals_int (ar_device_validation_messages (device), 0);
  ar_device_unref (device);
}
GST_END_TEST;

/* ---- errors ----------------------------------------------------------------------------- */

GST_START_TEST (test_error_missing_model)
{
  GstElement *predict = make_element ("arpredict", "model", "/nonexistent/card.yaml", NULL);
  GstBus *bus = attach_bus (predict);

  fail_unless_equals_int (gst_element_set_state (predict, GST_STATE_PAUSED),
      GST_STATE_CHANGE_FAILURE);
  assert_error_contains (bus, "/nonexistent/card.yaml");
  gst_element_set_state (predict, GST_STATE_NULL);
  gst_object_unref (predict);
  release_bus (bus);
}
GST_END_TEST;

GST_START_TEST (test_error_corrupt_model)
{
  gchar *dir = g_dir_make_tmp ("arvideo-XXXXXX", NULL);
  gchar *card = g_build_filename (dir, "broken.yaml", NULL);
  GstElement *tokenize;
  GstBus *bus;

  fail_unless (g_file_set_contents (card, "format: 1\nweights: missing.safetensors\n"
          "tokenizer: {kind: vq, resolution: [16, 16], bogus_key: 3}\n", -1, NULL));
  tokenize = make_element ("artokenize", "model", card, NULL);
  bus = attach_bus (tokenize);
  fail_unless_equals_int (gst_element_set_state (tokenize, GST_STATE_PAUSED),
      GST_STATE_CHANGE_FAILURE);
  assert_error_contains (bus, "broken.yaml");
  gst_element_set_state (tokenize, GST_STATE_NULL);
  gst_object_unref (tokenize);
  release_bus (bus);
  g_unlink (card);
  g_rmdir (dir);
  g_free (card);
  g_free (dir);
}
GST_END_TEST;

GST_START_TEST (test_error_tokenizer_predictor_mismatch)
{
  /* tiny-llama takes 16 tokens per frame: tiny-gpt's 8x8 grid does not fit. */
  GstElement *predict = make_element ("arpredict", "model", TINY_LLAMA, NULL);
  GstBus *bus = attach_bus (predict);
  GstHarness *h = harness_take (predict, "sink", "src");

  gst_harness_set_src_caps (h, tiny_token_caps ());
  fail_unless_equals_int (gst_harness_push (h, make_token_frame (0)), GST_FLOW_NOT_NEGOTIATED);
  assert_error_contains (bus, "16");
  gst_harness_teardown (h);
  release_bus (bus);
}
GST_END_TEST;

GST_START_TEST (test_error_wrong_action_size)
{
  GstElement *predict = make_element ("arpredict", "model", TINY_GPT, NULL);
  GstBus *bus = attach_bus (predict);
  GstHarness *h = predict_harness (predict);
  GstHarness *ah = gst_harness_new_with_element (predict, "action", NULL);
  GstBuffer *action = gst_buffer_new_allocate (NULL, 8, NULL);

  /* An action pad announcing 2 values for a model of discrete actions. */
  gst_buffer_memset (action, 0, 0, 8);
  gst_harness_set_src_caps_str (ah, "application/x-ar-action, format=F32, dim=2");
  gst_harness_push (ah, action);
  assert_error_contains (bus, "dim 2");

  /* A property action that is not an index of the 4 actions. */
  g_object_set (predict, "action", "0.5,1", NULL);
  fail_unless_equals_int (gst_harness_push (h, make_token_frame (0)), GST_FLOW_ERROR);
  assert_error_contains (bus, "2 value(s)");
  gst_harness_teardown (ah);
  gst_harness_teardown (h);
  release_bus (bus);
}
GST_END_TEST;

/* ---- state changes ---------------------------------------------------------------------- */

GST_START_TEST (test_state_cycles)
{
  GstElement *bin = gst_pipeline_new (NULL);
  GstElement *tokenize = make_element ("artokenize", "model", TINY_GPT, NULL);
  GstElement *predict = make_element ("arpredict", "model", TINY_GPT, NULL);
  GstElement *detokenize = make_element ("ardetokenize", "model", TINY_GPT, NULL);
  guint i;

  gst_bin_add_many (GST_BIN (bin), tokenize, predict, detokenize, NULL);
  /* The bin holds them now. */
  gst_object_unref (tokenize);
  gst_object_unref (predict);
  gst_object_unref (detokenize);
  fail_unless (gst_element_link_many (tokenize, predict, detokenize, NULL));
  for (i = 0; i < 100; i++) {
    fail_unless (gst_element_set_state (bin, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE);
    fail_unless (gst_element_set_state (bin, i % 2 ? GST_STATE_NULL : GST_STATE_READY)
        == GST_STATE_CHANGE_SUCCESS);
  }
  gst_element_set_state (bin, GST_STATE_NULL);
  gst_object_unref (bin);
}
GST_END_TEST;

/* ---- leak checking and main ------------------------------------------------------------- */

static GstTracer *
find_leaks_tracer (void)
{
  GList *tracers = gst_tracing_get_active_tracers (), *l;
  GstTracer *found = NULL;

  for (l = tracers; l; l = l->next)
    if (!found && g_str_equal (G_OBJECT_TYPE_NAME (l->data), "GstLeaksTracer"))
      found = gst_object_ref (l->data);
  g_list_free_full (tracers, gst_object_unref);
  return found;
}

static Suite *
arvideo_elements_suite (void)
{
  Suite *s = suite_create ("arvideo-elements");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_tokenize_caps);
  tcase_add_test (tc, test_tokenize_refuses_size);
  tcase_add_test (tc, test_tokenize_timestamps_metas);
  tcase_add_test (tc, test_detokenize_roundtrip);
  tcase_add_test (tc, test_detokenize_refuses_foreign_tokens);
  tcase_add_test (tc, test_predict_basic);
  tcase_add_test (tc, test_predict_horizon_target_timestamps);
  tcase_add_test (tc, test_predict_dream);
  tcase_add_test (tc, test_predict_seed_determinism);
  tcase_add_test (tc, test_predict_prefill_ahead_same);
  tcase_add_test (tc, test_predict_prefill_ahead_runs);
  tcase_add_test (tc, test_predict_context_refresh);
  tcase_add_test (tc, test_predict_flush_resets_context);
  tcase_add_test (tc, test_predict_action_sources);
  tcase_add_test (tc, test_predict_action_pad_waits);
  tcase_add_test (tc, test_predict_action_wait_unblocks);
  tcase_add_test (tc, test_predict_card_keys_discrete);
  tcase_add_test (tc, test_predict_card_keys_continuous);
  tcase_add_test (tc, test_error_card_key_size);
  tcase_add_test (tc, test_predict_metrics);
  tcase_add_test (tc, test_predict_latency_query);
  tcase_add_test (tc, test_predict_qos_drops_late_predictions);
  tcase_add_test (tc, test_context_from_application);
  tcase_add_test (tc, test_error_missing_model);
  tcase_add_test (tc, test_error_corrupt_model);
  tcase_add_test (tc, test_error_tokenizer_predictor_mismatch);
  tcase_add_test (tc, test_error_wrong_action_size);
  tcase_add_test (tc, test_state_cycles);
  return s;
}

int
main (int argc, char **argv)
{
  GstTracer *leaks;

  gst_check_init (&argc, &argv);
  /* With GST_TRACERS=leaks, gst_deinit at exit logs every object still alive and warns;
   * gst_check turns that warning into a failure (exit status != 0). */
  leaks = find_leaks_tracer ();
  if (!leaks)
    g_print ("note: run with GST_TRACERS=leaks to check for leaks\n");
  gst_clear_object (&leaks);

  return run_suite (arvideo_elements_suite ());
}
