/**
 * SECTION:element-arpredict
 * @title: arpredict
 * @see_also: artokenize, ardetokenize, #ArActionMeta
 *
 * Runs the predictor (a transformer world model) of a model card over a stream of token
 * frames. Each incoming frame is committed to the model's context together with the action
 * in force at it; then the element predicts the next @horizon frames and pushes them, one
 * buffer per step, each with an #ArPredictionMeta naming the frame it followed and the step.
 *
 * The action for a frame comes from, in order of precedence:
 *
 * 1. the "action" request pad (caps application/x-ar-action, format=F32 or S32, dim=N): the
 *    latest action whose running time is at or before the frame's. While the pad is linked
 *    and neither at EOS nor flushing, a frame for which no action at or after its running time
 *    has arrived yet waits up to #GstArPredict:action-timeout for one, so that an action sent
 *    with its frame is not missed when it travels slower than the frame; after that the
 *    latest action so far applies (and an action arriving later applies to later frames).
 *    Untimed actions (no PTS) apply from the frame after the latest one seen;
 * 2. an #ArActionMeta on the frame;
 * 3. the #GstArPredict:action property;
 * 4. navigation key events from downstream (e.g. a video sink's window), mapped to actions by
 *    the card's `keys:` table (see models/README.md), or else by the arrow keys:
 *    discrete models: Left = 0, Right = 1, Up = 2, Down = 3 (keys beyond the action count
 *    are ignored); continuous models (dim >= 2): Left = (-1, 0), Right = (1, 0),
 *    Up = (0, -1), Down = (0, 1), other values 0 (image coordinates, y down, as arsimsrc's
 *    actions). An action holds while its key is down;
 * 5. otherwise action 0 (discrete) or the zero vector (continuous).
 *
 * With #GstArPredict:dream, once the context is primed with real frames (context-frames - 1
 * of them), the element feeds its own predictions back instead of the input frames: one
 * predicted frame per input frame, which only paces it (and still supplies actions).
 *
 * When downstream is late (QoS events), predictions for late frames are dropped (the frames
 * are still committed, so the context stays current) and a QoS message is posted.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc ! video/x-raw,framerate=10/1 ! videoconvert ! videoscale ! \
 *     artokenize model=m.yaml ! arpredict model=m.yaml horizon=1 action=2 ! \
 *     ardetokenize model=m.yaml ! videoconvert ! autovideosink
 * ]| Predicts the next frame for action 2.
 */
#include "gstarpredict.h"
#include "ar-action-util.h"
#include "ar-context.h"
#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_ar_predict_debug);
#define GST_CAT_DEFAULT gst_ar_predict_debug

#define DEFAULT_HORIZON 1
#define MAX_HORIZON 64
#define DEFAULT_TEMPERATURE 1.0f
#define DEFAULT_TOP_K 0
#define DEFAULT_TOP_P 1.0f
#define DEFAULT_SEED 0
#define DEFAULT_TIMESTAMP_MODE GST_AR_PREDICT_TIMESTAMP_INPUT
#define DEFAULT_ACTION_TIMEOUT 100
#define DEFAULT_PREFILL_AHEAD TRUE
#define DEFAULT_CONTEXT_POLICY GST_AR_PREDICT_CONTEXT_SLIDE
#define MAX_ACTION_TIMEOUT 60000

enum {
  PROP_0,
  PROP_MODEL,
  PROP_CONTEXT_FRAMES,
  PROP_HORIZON,
  PROP_TEMPERATURE,
  PROP_TOP_K,
  PROP_TOP_P,
  PROP_SEED,
  PROP_GREEDY,
  PROP_ACTION,
  PROP_TIMESTAMP_MODE,
  PROP_DREAM,
  PROP_POST_METRICS,
  PROP_ACTION_TIMEOUT,
  PROP_PREFILL_AHEAD,
  PROP_CONTEXT_POLICY,
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (AR_TOKEN_CAPS_ANY));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (AR_TOKEN_CAPS_ANY));
static GstStaticPadTemplate action_template = GST_STATIC_PAD_TEMPLATE ("action",
    GST_PAD_SINK, GST_PAD_REQUEST, GST_STATIC_CAPS (AR_ACTION_CAPS_ANY));

/* The arrow keys when the card has no keys: table, in action order for discrete models;
 * continuous models take their direction from ar_action_arrow_keys_direction (image
 * coordinates, as arsimsrc). */
static const gchar *const default_keys[] = { "Left", "Right", "Up", "Down" };

#define gst_ar_predict_parent_class parent_class
G_DEFINE_TYPE (GstArPredict, gst_ar_predict, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (arpredict, "arpredict", GST_RANK_NONE,
    GST_TYPE_AR_PREDICT,
    GST_DEBUG_CATEGORY_INIT (gst_ar_predict_debug, "arpredict", 0, "arvideo predictor"));

GType
gst_ar_predict_timestamp_mode_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    { GST_AR_PREDICT_TIMESTAMP_INPUT, "Predictions carry the PTS of the input frame", "input" },
    { GST_AR_PREDICT_TIMESTAMP_TARGET,
        "Prediction k carries input PTS + k * duration (the time it predicts)", "target" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstArPredictTimestampMode", values));
  return type;
}

GType
gst_ar_predict_context_policy_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    { GST_AR_PREDICT_CONTEXT_SLIDE, "The last context-frames - 1 frames, re-run every frame "
          "(the reference's rollout)", "slide" },
    { GST_AR_PREDICT_CONTEXT_REFRESH, "New frames appended to the cache, restarted from the "
          "last frame when full (IRIS; each frame runs its own tokens only)", "refresh" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstArPredictContextPolicy", values));
  return type;
}

/* ---- actions ---------------------------------------------------------------------------- */

/* Turns @n values into an action for the model, or explains why they do not fit. */
static gboolean
gst_ar_predict_action_from_values (GstArPredict *self, const gfloat *values, guint n,
    const gchar *source, GstArPredictAction *action, GError **error)
{
  gboolean discrete = ar_predictor_action_discrete (self->predictor);
  guint size = ar_predictor_action_size (self->predictor);

  memset (action, 0, sizeof (*action));
  action->discrete = discrete;
  if (discrete) {
    if (n != 1 || values[0] != floorf (values[0]) || values[0] < 0 || values[0] >= size) {
      g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
          "action from %s has %u value(s) (first %g): the model takes 1 action index in "
          "[0, %u)", source, n, n ? values[0] : 0.0, size);
      return FALSE;
    }
    action->index = (guint) values[0];
    return TRUE;
  }
  if (n != size) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "action from %s has %u value(s): the model takes %u", source, n, size);
    return FALSE;
  }
  action->dim = n;
  memcpy (action->values, values, n * sizeof (gfloat));
  return TRUE;
}

static gboolean
gst_ar_predict_action_from_meta (GstArPredict *self, const ArActionMeta *meta,
    GstArPredictAction *action, GError **error)
{
  if (meta->discrete) {
    gfloat index = (gfloat) meta->index;
    if (!ar_predictor_action_discrete (self->predictor)) {
      g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
          "action meta holds a discrete action (%u) but the model takes %u continuous values",
          meta->index, ar_predictor_action_size (self->predictor));
      return FALSE;
    }
    return gst_ar_predict_action_from_values (self, &index, 1, "the buffer's action meta",
        action, error);
  }
  return gst_ar_predict_action_from_values (self, meta->values, MIN (meta->dim,
          AR_ACTION_META_MAX_DIM), "the buffer's action meta", action, error);
}

/* Waits (bounded by action-timeout) until the action pad has delivered an action at or after
 * @running_time, so that the action in force at the frame is known. FALSE when the sink pad
 * is flushing or the element stops: the frame is to be dropped. */
static gboolean
gst_ar_predict_wait_for_action (GstArPredict *self, GstClockTime running_time)
{
  gint64 deadline;
  guint timeout;
  gboolean flushing;

  GST_OBJECT_LOCK (self);
  timeout = self->action_timeout;
  GST_OBJECT_UNLOCK (self);

  g_mutex_lock (&self->action_lock);
  deadline = g_get_monotonic_time () + (gint64) timeout * G_TIME_SPAN_MILLISECOND;
  while (timeout > 0 && running_time != GST_CLOCK_TIME_NONE && self->action_linked
      && !self->action_eos && !self->action_flushing && !self->sink_flushing
      && (self->latest_action_running_time == GST_CLOCK_TIME_NONE
          || self->latest_action_running_time < running_time)) {
    if (!g_cond_wait_until (&self->action_cond, &self->action_lock, deadline)) {
      GST_DEBUG_OBJECT (self, "no action for %" GST_TIME_FORMAT " after %u ms: using the "
          "latest one", GST_TIME_ARGS (running_time), timeout);
      break;
    }
  }
  flushing = self->sink_flushing;
  g_mutex_unlock (&self->action_lock);
  return !flushing;
}

/* Ends any wait for an action; call with action_lock held. */
static void
gst_ar_predict_wake_action_waiter (GstArPredict *self)
{
  g_cond_broadcast (&self->action_cond);
}

/* The action in force at a frame, by precedence; see the element documentation. */
static gboolean
gst_ar_predict_choose_action (GstArPredict *self, GstBuffer *frame, GstClockTime running_time,
    GstArPredictAction *action, const gchar **source, GError **error)
{
  ArActionMeta *meta;
  GArray *property_values = NULL;
  gfloat pad_values[AR_ACTION_META_MAX_DIM];
  gint held_key;
  guint n = 0;

  g_mutex_lock (&self->action_lock);
  if (running_time != GST_CLOCK_TIME_NONE)
    self->last_frame_running_time = running_time;
  if (self->actionpad)
    n = ar_action_queue_take (&self->timed_actions, running_time, pad_values,
        AR_ACTION_META_MAX_DIM);
  g_mutex_unlock (&self->action_lock);
  if (n > 0) {
    /* Checked against the model when it arrived: this cannot fail. */
    *source = "action pad";
    return gst_ar_predict_action_from_values (self, pad_values, n, "the action pad", action,
        error);
  }

  meta = ar_buffer_get_action_meta (frame);
  if (meta) {
    *source = "meta";
    return gst_ar_predict_action_from_meta (self, meta, action, error);
  }

  GST_OBJECT_LOCK (self);
  if (self->property_action)
    property_values = g_array_ref (self->property_action);
  held_key = self->held_key;
  if (held_key >= 0 && !property_values)
    *action = g_array_index (self->key_map, GstArPredictKey, held_key).action;
  GST_OBJECT_UNLOCK (self);
  if (property_values) {
    gboolean ok = gst_ar_predict_action_from_values (self, (gfloat *) property_values->data,
        property_values->len, "the \"action\" property", action, error);
    g_array_unref (property_values);
    *source = "property";
    return ok;
  }

  if (held_key >= 0) {
    *source = "keyboard";
    return TRUE;
  }
  memset (action, 0, sizeof (*action));
  action->discrete = ar_predictor_action_discrete (self->predictor);
  if (!action->discrete)
    action->dim = ar_predictor_action_size (self->predictor);
  *source = "default";
  return TRUE;
}

static void
gst_ar_predict_to_ar_action (const GstArPredictAction *action, ArAction *out)
{
  out->discrete = action->discrete;
  out->index = action->index;
  out->dim = action->dim;
  out->values = action->values;
}

/* ---- keyboard --------------------------------------------------------------------------- */

static void
gst_ar_predict_key_clear (gpointer data)
{
  g_free (((GstArPredictKey *) data)->name);
}

/* The card's keys: table (validated against the predictor by the card loader), or else the
 * arrow keys as far as the model's actions go. */
static GArray *
gst_ar_predict_build_key_map (GstArPredict *self, const ArCard *card)
{
  GArray *map = g_array_new (FALSE, TRUE, sizeof (GstArPredictKey));
  gboolean discrete = ar_predictor_action_discrete (self->predictor);
  guint size = ar_predictor_action_size (self->predictor);
  guint i;

  g_array_set_clear_func (map, gst_ar_predict_key_clear);
  for (i = 0; i < card->n_keys; i++) {
    const ArCardKey *card_key = &card->keys[i];
    GstArPredictKey key = { g_strdup (card_key->name), { .discrete = discrete } };
    if (discrete) {
      key.action.index = card_key->index;
    } else {
      key.action.dim = MIN (card_key->dim, AR_ACTION_META_MAX_DIM);
      memcpy (key.action.values, card_key->values, key.action.dim * sizeof (gfloat));
    }
    g_array_append_val (map, key);
  }
  for (i = 0; card->n_keys == 0 && i < G_N_ELEMENTS (default_keys); i++) {
    GstArPredictKey key = { NULL, { .discrete = discrete } };
    if (discrete ? i >= size : size < 2)
      break;
    key.name = g_strdup (default_keys[i]);
    if (discrete) {
      key.action.index = i;
    } else {
      key.action.dim = MIN (size, AR_ACTION_META_MAX_DIM);
      ar_action_arrow_keys_direction (ar_action_arrow_key (default_keys[i]), key.action.values);
    }
    g_array_append_val (map, key);
  }
  return map;
}

/* ---- model lifetime --------------------------------------------------------------------- */

static gboolean
gst_ar_predict_open (GstArPredict *self)
{
  GError *error = NULL;
  gchar *path;
  guint context_frames;
  ArModel *model;
  ArPredictor *predictor = NULL;
  const ArCard *card;
  const gchar *fingerprint = NULL;
  GArray *key_map;

  if (!ar_device_ensure (GST_ELEMENT (self), &self->device))
    return FALSE;
  GST_OBJECT_LOCK (self);
  path = g_strdup (self->model_path);
  context_frames = self->context_frames;
  GST_OBJECT_UNLOCK (self);

  model = ar_element_open_model (GST_ELEMENT (self), self->device, path);
  if (!model)
    goto failed;
  predictor = ar_predictor_new (model, context_frames, &error);
  if (!predictor) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Model \"%s\" has no usable predictor: %s", path, error->message), (NULL));
    goto failed;
  }
  /* Tokens must come from this card's tokenizer when it has one: its fingerprint and grid
   * are what the sink caps must carry. */
  card = ar_model_card (model);
  if (card->tokenizer.kind != AR_TOKENIZER_NONE) {
    fingerprint = ar_model_tokenizer_fingerprint (model, &error);
    if (!fingerprint) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("Model \"%s\": cannot fingerprint its tokenizer: %s", path, error->message), (NULL));
      goto failed;
    }
  }

  self->model = model;
  self->predictor = predictor;
  key_map = gst_ar_predict_build_key_map (self, ar_model_card (model));
  GST_OBJECT_LOCK (self);
  self->key_map = key_map;
  self->held_key = -1;
  GST_OBJECT_UNLOCK (self);
  self->n_tokens = ar_predictor_tokens_per_frame (predictor);
  memset (&self->token_format, 0, sizeof (self->token_format));
  self->token_format.codebook_size = ar_predictor_vocab (predictor);
  if (fingerprint) {
    self->fingerprint = g_strdup (fingerprint);
    self->token_format.grid_width = card->tokenizer.grid_width;
    self->token_format.grid_height = card->tokenizer.grid_height;
    self->token_format.fingerprint = self->fingerprint;
  }
  GST_INFO_OBJECT (self, "predictor of %s: %u tokens per frame, %u context frames, %s actions "
      "of size %u", path, self->n_tokens, ar_predictor_context_frames (predictor),
      ar_predictor_action_discrete (predictor) ? "discrete" : "continuous",
      ar_predictor_action_size (predictor));
  g_free (path);
  return TRUE;

failed:
  g_clear_error (&error);
  g_clear_pointer (&predictor, ar_predictor_free);
  g_clear_pointer (&model, ar_model_unref);
  g_free (path);
  return FALSE;
}

static void
gst_ar_predict_clear_actions (GstArPredict *self)
{
  g_mutex_lock (&self->action_lock);
  ar_action_queue_clear (&self->timed_actions);
  self->last_frame_running_time = 0;
  self->latest_action_running_time = GST_CLOCK_TIME_NONE;
  self->action_eos = FALSE;
  gst_ar_predict_wake_action_waiter (self);
  g_mutex_unlock (&self->action_lock);
}

/* Forgets everything that depends on the stream position. */
static void
gst_ar_predict_reset_stream (GstArPredict *self)
{
  if (self->predictor)
    ar_predictor_reset (self->predictor);
  self->have_prediction = FALSE;
  self->sample_counter = 0;
  self->discont = TRUE;
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
  GST_OBJECT_LOCK (self);
  self->earliest_time = GST_CLOCK_TIME_NONE;
  self->processed = self->dropped = 0;
  GST_OBJECT_UNLOCK (self);
}

static void
gst_ar_predict_close (GstArPredict *self)
{
  GArray *key_map;

  GST_OBJECT_LOCK (self);
  key_map = g_steal_pointer (&self->key_map);
  self->held_key = -1;
  GST_OBJECT_UNLOCK (self);
  g_clear_pointer (&key_map, g_array_unref);
  gst_ar_predict_clear_actions (self);
  g_clear_pointer (&self->predictor, ar_predictor_free);
  g_clear_pointer (&self->model, ar_model_unref);
  g_clear_pointer (&self->fingerprint, g_free);
  g_clear_pointer (&self->prediction, g_free);
  self->prediction_capacity = 0;
  gst_clear_caps (&self->token_caps);
  memset (&self->token_format, 0, sizeof (self->token_format));
}

/* ---- caps ------------------------------------------------------------------------------- */

/* The model's token caps first, then the template: caps that do not match still reach the
 * caps event, which fails with a message naming both sides. */
static GstCaps *
gst_ar_predict_token_caps (GstArPredict *self, GstPad *pad, GstCaps *filter)
{
  GstCaps *caps;

  if (self->predictor) {
    caps = ar_token_caps_new (&self->token_format);
    if (pad == self->sinkpad)
      caps = gst_caps_merge (caps, gst_pad_get_pad_template_caps (pad));
  } else {
    caps = gst_pad_get_pad_template_caps (pad);
  }
  if (filter) {
    GstCaps *filtered = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (caps);
    caps = filtered;
  }
  return caps;
}

static gboolean
gst_ar_predict_set_sink_caps (GstArPredict *self, GstCaps *caps)
{
  gchar *why = NULL;
  const GstStructure *s;
  gint gw = 0, gh = 0;

  if (!self->predictor)
    return FALSE;
  if (!ar_token_caps_match (caps, &self->token_format, &why)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("arpredict's model cannot take these tokens: %s", why), ("caps %" GST_PTR_FORMAT, caps));
    g_free (why);
    return FALSE;
  }
  s = gst_caps_get_structure (caps, 0);
  gst_structure_get_int (s, "grid-width", &gw);
  gst_structure_get_int (s, "grid-height", &gh);
  if ((guint) (gw * gh) != self->n_tokens) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("arpredict's model takes %u tokens per frame, the stream has %dx%d = %d",
            self->n_tokens, gw, gh, gw * gh), ("caps %" GST_PTR_FORMAT, caps));
    return FALSE;
  }
  gst_caps_replace (&self->token_caps, caps);
  /* Predictions are frames of the same tokens. */
  return gst_pad_set_caps (self->srcpad, caps);
}

static gboolean
gst_ar_predict_set_action_caps (GstArPredict *self, GstCaps *caps)
{
  gboolean is_float;
  guint dim, expected;

  if (!self->predictor || !ar_action_caps_parse (caps, &is_float, &dim))
    return FALSE;
  expected = ar_predictor_action_discrete (self->predictor)
      ? 1 : ar_predictor_action_size (self->predictor);
  if (dim != expected) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Action pad: actions of dim %u, but the model takes %u value(s) per action "
            "(%s, size %u)", dim, expected,
            ar_predictor_action_discrete (self->predictor) ? "discrete" : "continuous",
            ar_predictor_action_size (self->predictor)), ("caps %" GST_PTR_FORMAT, caps));
    return FALSE;
  }
  ar_action_pad_format_set (&self->action_format, &self->action_lock, is_float, dim);
  return TRUE;
}

/* ---- QoS and latency -------------------------------------------------------------------- */

static gboolean
gst_ar_predict_is_late (GstArPredict *self, GstClockTime running_time)
{
  gboolean late;

  GST_OBJECT_LOCK (self);
  late = running_time != GST_CLOCK_TIME_NONE && self->earliest_time != GST_CLOCK_TIME_NONE
      && running_time < self->earliest_time;
  GST_OBJECT_UNLOCK (self);
  return late;
}

/* Reports worse processing times to the pipeline so that live sinks can account for them. */
static void
gst_ar_predict_account_processing (GstArPredict *self, GstClockTime elapsed)
{
  gboolean grew = FALSE;

  GST_OBJECT_LOCK (self);
  if (elapsed > self->processing_latency)
    self->processing_latency = elapsed;
  if (self->processing_latency > self->reported_latency + self->reported_latency / 4) {
    grew = TRUE;
  }
  GST_OBJECT_UNLOCK (self);
  if (grew) {
    GST_DEBUG_OBJECT (self, "processing latency now %" GST_TIME_FORMAT, GST_TIME_ARGS (elapsed));
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_latency (GST_OBJECT_CAST (self)));
  }
}

/* ---- streaming -------------------------------------------------------------------------- */

static void
gst_ar_predict_post_metrics (GstArPredict *self, const guint32 *tokens, GstBuffer *frame)
{
  guint i, equal = 0;

  for (i = 0; i < self->n_tokens; i++)
    equal += self->prediction[i] == tokens[i];
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT_CAST (self),
          gst_structure_new ("ar-predict-metrics",
              "token-accuracy", G_TYPE_DOUBLE, (gdouble) equal / self->n_tokens,
              "pts", G_TYPE_UINT64, GST_BUFFER_PTS (frame),
              "frames-in-context", G_TYPE_UINT, ar_predictor_frames_in_context (self->predictor),
              "prefill-positions", G_TYPE_UINT, ar_predictor_last_prefill (self->predictor),
              NULL)));
}

static GstClockTime
gst_ar_predict_output_pts (GstArPredict *self, GstBuffer *frame, guint step,
    GstArPredictTimestampMode mode)
{
  GstClockTime pts = GST_BUFFER_PTS (frame), duration = GST_BUFFER_DURATION (frame);

  if (mode == GST_AR_PREDICT_TIMESTAMP_INPUT || pts == GST_CLOCK_TIME_NONE)
    return pts;
  if (duration == GST_CLOCK_TIME_NONE && self->token_caps) {
    gint num = 0, den = 1;
    gst_structure_get_fraction (gst_caps_get_structure (self->token_caps, 0), "framerate",
        &num, &den);
    if (num > 0)
      duration = gst_util_uint64_scale_int (GST_SECOND, den, num);
  }
  return duration == GST_CLOCK_TIME_NONE ? pts : pts + step * duration;
}

static GstFlowReturn
gst_ar_predict_sink_chain (GstPad *pad, GstObject *parent, GstBuffer *frame)
{
  GstArPredict *self = GST_AR_PREDICT (parent);
  GstFlowReturn ret = GST_FLOW_OK;
  GstArPredictAction action;
  ArAction ar_action;
  ArSampleParams params;
  GstArPredictTimestampMode mode;
  GError *error = NULL;
  GstMapInfo map;
  const gchar *action_source = NULL;
  const guint32 *committed;
  gboolean dream, post_metrics, dreaming, prefill_ahead;
  GstArPredictContextPolicy context_policy;
  guint horizon, steps, k, prime_frames;
  GstClockTime running_time, first_pts, first_running_time, started;
  gsize expected = (gsize) self->n_tokens * sizeof (guint32);

  if (!self->predictor || !self->token_caps) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Token frames arrived before caps"), (NULL));
    gst_buffer_unref (frame);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (!gst_buffer_map (frame, &map, GST_MAP_READ)) {
    gst_buffer_unref (frame);
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not map a token frame"), (NULL));
    return GST_FLOW_ERROR;
  }
  if (map.size != expected) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Token frame of %" G_GSIZE_FORMAT " bytes, expected %" G_GSIZE_FORMAT " (%u tokens)",
            map.size, expected, self->n_tokens), (NULL));
    ret = GST_FLOW_ERROR;
    goto done;
  }

  GST_OBJECT_LOCK (self);
  horizon = self->horizon;
  dream = self->dream;
  post_metrics = self->post_metrics;
  prefill_ahead = self->prefill_ahead;
  mode = self->timestamp_mode;
  context_policy = self->context_policy;
  params = (ArSampleParams) {
    .temperature = self->temperature, .top_k = self->top_k, .top_p = self->top_p,
    .greedy = self->greedy, .seed = self->seed,
  };
  GST_OBJECT_UNLOCK (self);
  params.counter = self->sample_counter;

  running_time = gst_segment_to_running_time (&self->segment, GST_FORMAT_TIME,
      GST_BUFFER_PTS (frame));
  if (post_metrics && self->have_prediction)
    gst_ar_predict_post_metrics (self, (const guint32 *) map.data, frame);

  if (!gst_ar_predict_wait_for_action (self, running_time)) {
    ret = GST_FLOW_FLUSHING;
    goto done;
  }
  if (!gst_ar_predict_choose_action (self, frame, running_time, &action, &action_source,
          &error)) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Wrong action: %s", error->message), (NULL));
    ret = GST_FLOW_ERROR;
    goto done;
  }
  gst_ar_predict_to_ar_action (&action, &ar_action);

  /* Dreaming starts once the context holds enough real frames to go on from. */
  prime_frames = MAX (1, ar_predictor_context_frames (self->predictor)) - 1;
  dreaming = dream && self->have_prediction
      && ar_predictor_frames_in_context (self->predictor) >= MAX (prime_frames, 1);
  committed = dreaming ? self->prediction : (const guint32 *) map.data;
  GST_LOG_OBJECT (self, "frame %" GST_TIME_FORMAT ": committing %s with the %s action",
      GST_TIME_ARGS (GST_BUFFER_PTS (frame)), dreaming ? "the last prediction" : "the frame",
      action_source);
  if (!ar_predictor_commit (self->predictor, committed, &ar_action, &error)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not commit the frame: %s",
            error->message), ("action from %s", action_source));
    ret = GST_FLOW_ERROR;
    goto done;
  }
  self->have_prediction = FALSE;
  /* After the commit: a switch to refresh starts its segment with the frames the sliding
   * window holds now, the new one included (ar_predictor_set_context_policy()). */
  ar_predictor_set_context_policy (self->predictor, (ArContextPolicy) context_policy);

  steps = dreaming ? 1 : horizon;
  first_pts = gst_ar_predict_output_pts (self, frame, 1, mode);
  first_running_time = gst_segment_to_running_time (&self->segment, GST_FORMAT_TIME, first_pts);
  if (gst_ar_predict_is_late (self, first_running_time)) {
    guint64 processed, dropped;
    GST_OBJECT_LOCK (self);
    processed = self->processed;
    dropped = ++self->dropped;
    GST_OBJECT_UNLOCK (self);
    GST_DEBUG_OBJECT (self, "late: dropping the prediction at %" GST_TIME_FORMAT,
        GST_TIME_ARGS (first_running_time));
    {
      GstMessage *qos = gst_message_new_qos (GST_OBJECT_CAST (self), FALSE,
          first_running_time, gst_segment_to_stream_time (&self->segment, GST_FORMAT_TIME,
              first_pts), first_pts, GST_BUFFER_DURATION (frame));
      gst_message_set_qos_stats (qos, GST_FORMAT_BUFFERS, processed, dropped);
      gst_element_post_message (GST_ELEMENT (self), qos);
    }
    self->discont = TRUE;
    goto done;
  }

  if (self->prediction_capacity < steps) {
    self->prediction = g_renew (guint32, self->prediction, (gsize) steps * self->n_tokens);
    self->prediction_capacity = steps;
  }
  started = gst_util_get_timestamp ();
  if (!ar_predictor_generate (self->predictor, &params, steps, NULL, self->prediction,
          &error)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Prediction failed: %s", error->message), (NULL));
    ret = GST_FLOW_ERROR;
    goto done;
  }
  gst_ar_predict_account_processing (self, gst_util_get_timestamp () - started);
  self->have_prediction = TRUE;
  self->sample_counter += (guint64) steps * self->n_tokens;
  GST_OBJECT_LOCK (self);
  self->processed++;
  GST_OBJECT_UNLOCK (self);

  for (k = 1; k <= steps && ret == GST_FLOW_OK; k++) {
    GstBuffer *out = gst_buffer_new_memdup (self->prediction + (gsize) (k - 1) * self->n_tokens,
        expected);
    GST_BUFFER_PTS (out) = gst_ar_predict_output_pts (self, frame, k, mode);
    GST_BUFFER_DTS (out) = GST_CLOCK_TIME_NONE;
    GST_BUFFER_DURATION (out) = GST_BUFFER_DURATION (frame);
    if (self->discont) {
      GST_BUFFER_FLAG_SET (out, GST_BUFFER_FLAG_DISCONT);
      self->discont = FALSE;
    }
    ar_buffer_add_prediction_meta (out, GST_BUFFER_PTS (frame), GST_BUFFER_OFFSET (frame), k,
        dreaming);
    ret = gst_pad_push (self->srcpad, out);
  }
  /* While the next frame is on its way: the cache of the frames its window keeps, so that
   * its generate runs the new frame's positions only. After a rollout too: its predicted
   * frames took the cache rows where the next window's frames go, so this runs them all
   * again, off the path from the next frame to its prediction. A failure costs the next
   * frame's latency only. */
  if (ret == GST_FLOW_OK && prefill_ahead
      && !ar_predictor_prefill_ahead (self->predictor, &error)) {
    GST_ELEMENT_WARNING (self, STREAM, FAILED, ("Prefill ahead failed: %s", error->message),
        ("the next frame's prediction runs its whole window"));
    g_clear_error (&error);
  }

done:
  g_clear_error (&error);
  gst_buffer_unmap (frame, &map);
  gst_buffer_unref (frame);
  return ret;
}

static gboolean
gst_ar_predict_sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstArPredict *self = GST_AR_PREDICT (parent);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CAPS: {
      GstCaps *caps;
      gboolean ok;
      gst_event_parse_caps (event, &caps);
      ok = gst_ar_predict_set_sink_caps (self, caps);
      gst_event_unref (event);
      return ok;
    }
    case GST_EVENT_SEGMENT:
      gst_event_copy_segment (event, &self->segment);
      if (self->segment.format != GST_FORMAT_TIME) {
        GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("arpredict needs a TIME segment, got %s",
                gst_format_get_name (self->segment.format)), (NULL));
        gst_event_unref (event);
        return FALSE;
      }
      break;
    case GST_EVENT_FLUSH_START:
      /* Not serialized: the streaming thread may be waiting for an action. */
      g_mutex_lock (&self->action_lock);
      self->sink_flushing = TRUE;
      gst_ar_predict_wake_action_waiter (self);
      g_mutex_unlock (&self->action_lock);
      break;
    case GST_EVENT_FLUSH_STOP:
      g_mutex_lock (&self->action_lock);
      self->sink_flushing = FALSE;
      g_mutex_unlock (&self->action_lock);
      /* A flushing seek jumps elsewhere in time: the old context would mislead the model. */
      gst_ar_predict_reset_stream (self);
      break;
    case GST_EVENT_STREAM_START:
      self->discont = TRUE;
      break;
    default:
      break;
  }
  return gst_pad_event_default (pad, parent, event);
}

static gboolean
gst_ar_predict_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstArPredict *self = GST_AR_PREDICT (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_CAPS: {
      GstCaps *filter, *caps;
      gst_query_parse_caps (query, &filter);
      caps = gst_ar_predict_token_caps (self, pad, filter);
      gst_query_set_caps_result (query, caps);
      gst_caps_unref (caps);
      return TRUE;
    }
    case GST_QUERY_CONTEXT: {
      gboolean answered;
      answered = ar_device_handle_context_query (GST_ELEMENT (self), query, &self->device);
      if (answered)
        return TRUE;
      break;
    }
    case GST_QUERY_LATENCY:
      if (pad == self->srcpad) {
        gboolean live;
        GstClockTime min, max, ours;
        guint timeout;
        if (!gst_pad_peer_query (self->sinkpad, query))
          return FALSE;
        gst_query_parse_latency (query, &live, &min, &max);
        GST_OBJECT_LOCK (self);
        ours = self->processing_latency;
        self->reported_latency = ours;
        timeout = self->action_timeout;
        GST_OBJECT_UNLOCK (self);
        g_mutex_lock (&self->action_lock);
        if (self->action_linked)
          ours += timeout * GST_MSECOND;   /* frames may wait that long for their action */
        g_mutex_unlock (&self->action_lock);
        min += ours;
        if (max != GST_CLOCK_TIME_NONE)
          max += ours;
        gst_query_set_latency (query, live, min, max);
        return TRUE;
      }
      break;
    default:
      break;
  }
  return gst_pad_query_default (pad, parent, query);
}

static gboolean
gst_ar_predict_src_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstArPredict *self = GST_AR_PREDICT (parent);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_QOS: {
      GstQOSType type;
      gdouble proportion;
      GstClockTimeDiff diff;
      GstClockTime timestamp;
      gst_event_parse_qos (event, &type, &proportion, &diff, &timestamp);
      GST_OBJECT_LOCK (self);
      /* Late by diff: skip predictions until we are diff past the reported time. */
      if (type != GST_QOS_TYPE_THROTTLE && diff > 0)
        self->earliest_time = timestamp + 2 * diff;
      else
        self->earliest_time = timestamp + diff;
      GST_OBJECT_UNLOCK (self);
      break;
    }
    case GST_EVENT_NAVIGATION: {
      gboolean pressed = FALSE;
      const gchar *key = ar_action_key_event (event, &pressed);
      guint i;
      GST_OBJECT_LOCK (self);
      for (i = 0; key && self->key_map && i < self->key_map->len; i++) {
        if (g_strcmp0 (key, g_array_index (self->key_map, GstArPredictKey, i).name) == 0) {
          if (pressed)
            self->held_key = i;
          else if (self->held_key == (gint) i)
            self->held_key = -1;
          GST_DEBUG_OBJECT (self, "key %s %s", key, pressed ? "pressed" : "released");
        }
      }
      GST_OBJECT_UNLOCK (self);
      break;
    }
    default:
      break;
  }
  return gst_pad_event_default (pad, parent, event);
}

/* ---- action pad ------------------------------------------------------------------------- */

static GstFlowReturn
gst_ar_predict_action_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  GstArPredict *self = GST_AR_PREDICT (parent);
  GstArPredictAction checked;
  gfloat values[AR_ACTION_META_MAX_DIM];
  GError *error = NULL;
  GstFlowReturn ret;
  guint dim;
  GstClockTime running_time;

  /* Caps are only accepted with a model, which stays while the pad is active. */
  ret = ar_action_pad_read (GST_ELEMENT (self), &self->action_lock, &self->action_format,
      buffer, values, &dim, &running_time);
  gst_buffer_unref (buffer);
  if (ret != GST_FLOW_OK)
    return ret;
  if (!gst_ar_predict_action_from_values (self, values, dim, "the action pad", &checked,
          &error)) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Wrong action: %s", error->message), (NULL));
    g_clear_error (&error);
    return GST_FLOW_ERROR;
  }

  g_mutex_lock (&self->action_lock);
  /* Untimed actions apply from the next frame on. */
  if (running_time == GST_CLOCK_TIME_NONE)
    running_time = self->last_frame_running_time;
  ar_action_queue_push (&self->timed_actions, running_time, values, dim);
  if (self->latest_action_running_time == GST_CLOCK_TIME_NONE
      || running_time > self->latest_action_running_time)
    self->latest_action_running_time = running_time;
  gst_ar_predict_wake_action_waiter (self);
  g_mutex_unlock (&self->action_lock);
  return GST_FLOW_OK;
}

static gboolean
gst_ar_predict_action_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstArPredict *self = GST_AR_PREDICT (parent);
  gboolean ok = TRUE;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CAPS: {
      GstCaps *caps;
      gst_event_parse_caps (event, &caps);
      ok = gst_ar_predict_set_action_caps (self, caps);
      break;
    }
    case GST_EVENT_SEGMENT:
      g_mutex_lock (&self->action_lock);
      gst_event_copy_segment (event, &self->action_format.segment);
      g_mutex_unlock (&self->action_lock);
      break;
    case GST_EVENT_FLUSH_START:
      g_mutex_lock (&self->action_lock);
      self->action_flushing = TRUE;
      gst_ar_predict_wake_action_waiter (self);
      g_mutex_unlock (&self->action_lock);
      break;
    case GST_EVENT_FLUSH_STOP:
      g_mutex_lock (&self->action_lock);
      ar_action_queue_clear (&self->timed_actions);
      self->latest_action_running_time = GST_CLOCK_TIME_NONE;
      self->action_flushing = self->action_eos = FALSE;
      g_mutex_unlock (&self->action_lock);
      break;
    case GST_EVENT_STREAM_START:
      g_mutex_lock (&self->action_lock);
      self->action_eos = FALSE;
      g_mutex_unlock (&self->action_lock);
      break;
    case GST_EVENT_EOS:
      /* No more actions: frames stop waiting for them. */
      g_mutex_lock (&self->action_lock);
      self->action_eos = TRUE;
      gst_ar_predict_wake_action_waiter (self);
      g_mutex_unlock (&self->action_lock);
      break;
    default:
      break;
  }
  /* Actions are consumed here: nothing travels on from this pad. */
  gst_event_unref (event);
  return ok;
}

static void
gst_ar_predict_set_action_linked (GstArPredict *self, gboolean linked)
{
  g_mutex_lock (&self->action_lock);
  self->action_linked = linked;
  gst_ar_predict_wake_action_waiter (self);
  g_mutex_unlock (&self->action_lock);
}

static GstPadLinkReturn
gst_ar_predict_action_link (GstPad *pad, GstObject *parent, GstPad *peer)
{
  gst_ar_predict_set_action_linked (GST_AR_PREDICT (parent), TRUE);
  return GST_PAD_LINK_OK;
}

/* Called with the pads' object locks held: takes only action_lock, which is never held while
 * taking a pad lock. */
static void
gst_ar_predict_action_unlink (GstPad *pad, GstObject *parent)
{
  if (parent)
    gst_ar_predict_set_action_linked (GST_AR_PREDICT (parent), FALSE);
}

static GstPad *
gst_ar_predict_request_new_pad (GstElement *element, GstPadTemplate *templ,
    const gchar *name, const GstCaps *caps)
{
  GstArPredict *self = GST_AR_PREDICT (element);
  GstPad *pad;

  pad = ar_action_pad_new (element, templ, &self->actionpad,
      GST_DEBUG_FUNCPTR (gst_ar_predict_action_chain),
      GST_DEBUG_FUNCPTR (gst_ar_predict_action_event));
  if (!pad)
    return NULL;
  gst_pad_set_link_function (pad, GST_DEBUG_FUNCPTR (gst_ar_predict_action_link));
  gst_pad_set_unlink_function (pad, GST_DEBUG_FUNCPTR (gst_ar_predict_action_unlink));
  g_mutex_lock (&self->action_lock);
  ar_action_pad_format_reset (&self->action_format);
  self->action_linked = self->action_eos = self->action_flushing = FALSE;
  g_mutex_unlock (&self->action_lock);
  GST_OBJECT_LOCK (self);
  self->actionpad = pad;
  GST_OBJECT_UNLOCK (self);
  ar_action_pad_add (element, pad);
  return pad;
}

static void
gst_ar_predict_release_pad (GstElement *element, GstPad *pad)
{
  GstArPredict *self = GST_AR_PREDICT (element);

  GST_OBJECT_LOCK (self);
  if (self->actionpad == pad)
    self->actionpad = NULL;
  GST_OBJECT_UNLOCK (self);
  gst_ar_predict_set_action_linked (self, FALSE);
  gst_ar_predict_clear_actions (self);
  ar_action_pad_remove (element, pad);
}

/* ---- element ---------------------------------------------------------------------------- */

static void
gst_ar_predict_set_context (GstElement *element, GstContext *context)
{
  GstArPredict *self = GST_AR_PREDICT (element);

  ar_device_handle_set_context (element, context, &self->device);
  GST_ELEMENT_CLASS (parent_class)->set_context (element, context);
}

static GstStateChangeReturn
gst_ar_predict_change_state (GstElement *element, GstStateChange transition)
{
  GstArPredict *self = GST_AR_PREDICT (element);
  GstStateChangeReturn ret;

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    if (!gst_ar_predict_open (self))
      return GST_STATE_CHANGE_FAILURE;
    gst_ar_predict_reset_stream (self);
    gst_ar_predict_clear_actions (self);
    g_mutex_lock (&self->action_lock);
    self->sink_flushing = self->action_flushing = FALSE;
    g_mutex_unlock (&self->action_lock);
    GST_OBJECT_LOCK (self);
    self->processing_latency = self->reported_latency = 0;
    self->held_key = -1;
    GST_OBJECT_UNLOCK (self);
  } else if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    /* Deactivating the pads takes the stream lock a waiting frame holds: end the wait. */
    g_mutex_lock (&self->action_lock);
    self->sink_flushing = TRUE;
    gst_ar_predict_wake_action_waiter (self);
    g_mutex_unlock (&self->action_lock);
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE) {
    if (transition == GST_STATE_CHANGE_READY_TO_PAUSED)
      gst_ar_predict_close (self);
    return ret;
  }

  switch (transition) {
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      /* The pads are deactivated: no streaming thread uses the predictor any more. */
      gst_ar_predict_close (self);
      break;
    case GST_STATE_CHANGE_READY_TO_NULL:
      ar_device_release (GST_ELEMENT (self), &self->device);
      break;
    default:
      break;
  }
  return ret;
}

static void
gst_ar_predict_set_property (GObject *object, guint prop_id, const GValue *value,
    GParamSpec *pspec)
{
  GstArPredict *self = GST_AR_PREDICT (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_free (self->model_path);
      self->model_path = g_value_dup_string (value);
      break;
    case PROP_CONTEXT_FRAMES:
      self->context_frames = g_value_get_uint (value);
      break;
    case PROP_HORIZON:
      self->horizon = g_value_get_uint (value);
      break;
    case PROP_TEMPERATURE:
      self->temperature = g_value_get_float (value);
      break;
    case PROP_TOP_K:
      self->top_k = g_value_get_uint (value);
      break;
    case PROP_TOP_P:
      self->top_p = g_value_get_float (value);
      break;
    case PROP_SEED:
      self->seed = g_value_get_uint64 (value);
      break;
    case PROP_GREEDY:
      self->greedy = g_value_get_boolean (value);
      break;
    case PROP_ACTION: {
      const gchar *text = g_value_get_string (value);
      GArray *parsed = ar_action_parse_string (text);
      if (text && *text && !parsed) {
        GST_OBJECT_UNLOCK (self);
        g_warning ("arpredict: cannot parse action \"%s\": expected comma-separated numbers "
            "such as \"3\" or \"0.5,-0.2\"", text);
        return;
      }
      g_free (self->action_string);
      self->action_string = g_strdup (text);
      g_clear_pointer (&self->property_action, g_array_unref);
      self->property_action = parsed;
      break;
    }
    case PROP_TIMESTAMP_MODE:
      self->timestamp_mode = g_value_get_enum (value);
      break;
    case PROP_DREAM:
      self->dream = g_value_get_boolean (value);
      break;
    case PROP_POST_METRICS:
      self->post_metrics = g_value_get_boolean (value);
      break;
    case PROP_ACTION_TIMEOUT:
      self->action_timeout = g_value_get_uint (value);
      break;
    case PROP_CONTEXT_POLICY:
      self->context_policy = g_value_get_enum (value);
      break;
    case PROP_PREFILL_AHEAD:
      self->prefill_ahead = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_ar_predict_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstArPredict *self = GST_AR_PREDICT (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string (value, self->model_path);
      break;
    case PROP_CONTEXT_FRAMES:
      g_value_set_uint (value, self->context_frames);
      break;
    case PROP_HORIZON:
      g_value_set_uint (value, self->horizon);
      break;
    case PROP_TEMPERATURE:
      g_value_set_float (value, self->temperature);
      break;
    case PROP_TOP_K:
      g_value_set_uint (value, self->top_k);
      break;
    case PROP_TOP_P:
      g_value_set_float (value, self->top_p);
      break;
    case PROP_SEED:
      g_value_set_uint64 (value, self->seed);
      break;
    case PROP_GREEDY:
      g_value_set_boolean (value, self->greedy);
      break;
    case PROP_ACTION:
      g_value_set_string (value, self->action_string);
      break;
    case PROP_TIMESTAMP_MODE:
      g_value_set_enum (value, self->timestamp_mode);
      break;
    case PROP_DREAM:
      g_value_set_boolean (value, self->dream);
      break;
    case PROP_POST_METRICS:
      g_value_set_boolean (value, self->post_metrics);
      break;
    case PROP_ACTION_TIMEOUT:
      g_value_set_uint (value, self->action_timeout);
      break;
    case PROP_CONTEXT_POLICY:
      g_value_set_enum (value, self->context_policy);
      break;
    case PROP_PREFILL_AHEAD:
      g_value_set_boolean (value, self->prefill_ahead);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_ar_predict_finalize (GObject *object)
{
  GstArPredict *self = GST_AR_PREDICT (object);

  gst_ar_predict_close (self);
  g_clear_pointer (&self->device, ar_device_unref);
  g_clear_pointer (&self->property_action, g_array_unref);
  g_free (self->action_string);
  g_free (self->model_path);
  g_mutex_clear (&self->action_lock);
  g_cond_clear (&self->action_cond);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_ar_predict_class_init (GstArPredictClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;

  gobject_class->set_property = gst_ar_predict_set_property;
  gobject_class->get_property = gst_ar_predict_get_property;
  gobject_class->finalize = gst_ar_predict_finalize;

  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model card",
          "Path of the model card (.yaml) whose predictor runs; loaded when the element starts "
          "and shared with other elements naming the same card", NULL,
          flags | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_CONTEXT_FRAMES,
      g_param_spec_uint ("context-frames", "Context frames",
          "Frames of context the model attends to (0 = the card's context_frames)",
          0, G_MAXUINT16, 0, flags | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_HORIZON,
      g_param_spec_uint ("horizon", "Horizon",
          "Frames predicted after each input frame (pushed as one buffer each, step 1 first; "
          "later steps repeat the frame's action)", 1, MAX_HORIZON, DEFAULT_HORIZON,
          flags | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_TEMPERATURE,
      g_param_spec_float ("temperature", "Temperature",
          "Sampling temperature (0 = greedy argmax)", 0.0f, 100.0f, DEFAULT_TEMPERATURE,
          flags | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_TOP_K,
      g_param_spec_uint ("top-k", "Top k",
          "Sample among the k most likely tokens (0 = all, 1 = greedy)", 0, G_MAXINT,
          DEFAULT_TOP_K, flags | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_TOP_P,
      g_param_spec_float ("top-p", "Top p",
          "Sample among the most likely tokens whose probabilities reach p (1 = off)",
          0.0f, 1.0f, DEFAULT_TOP_P, flags | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint64 ("seed", "Seed",
          "Random seed of the sampler: equal seeds, inputs and actions give equal predictions "
          "(the draw counter restarts at each start and flush)", 0, G_MAXUINT64, DEFAULT_SEED,
          flags | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_GREEDY,
      g_param_spec_boolean ("greedy", "Greedy",
          "Take the most likely token instead of sampling", FALSE,
          flags | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_ACTION,
      g_param_spec_string ("action", "Action",
          "Action taken at every frame unless the action pad or an action meta gives one: an "
          "index for discrete models (\"3\"), comma-separated values for continuous ones "
          "(\"0.5,-0.2\"); empty = none (keyboard or the zero action)", NULL,
          flags | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_TIMESTAMP_MODE,
      g_param_spec_enum ("timestamp-mode", "Timestamp mode",
          "Timestamps of predictions: the input frame's PTS, or the time they predict",
          GST_TYPE_AR_PREDICT_TIMESTAMP_MODE, DEFAULT_TIMESTAMP_MODE,
          flags | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM,
      g_param_spec_boolean ("dream", "Dream",
          "Once context-frames - 1 real frames are in context, roll out on the model's own "
          "predictions (one per input frame) instead of the input", FALSE,
          flags | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_POST_METRICS,
      g_param_spec_boolean ("post-metrics", "Post metrics",
          "Post an element message \"ar-predict-metrics\" per frame with the token accuracy "
          "(token-accuracy, double) of the previous prediction against the frame that came, "
          "and the positions that prediction ran through the model before its one-token steps "
          "(prefill-positions, uint: the new frame's alone when prefill-ahead did the rest)",
          FALSE, flags | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_ACTION_TIMEOUT,
      g_param_spec_uint ("action-timeout", "Action timeout",
          "Milliseconds a frame waits for the action pad to deliver an action at or after the "
          "frame's running time before the latest earlier action applies (0 = never wait). "
          "Only while the action pad is linked and neither at EOS nor flushing; adds to the "
          "reported latency then", 0, MAX_ACTION_TIMEOUT, DEFAULT_ACTION_TIMEOUT,
          flags | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_PREFILL_AHEAD,
      g_param_spec_boolean ("prefill-ahead", "Prefill ahead",
          "After pushing a prediction (or a rollout), run the context frames the next frame's "
          "window keeps through the model while that frame is on its way, so that its "
          "prediction only runs the new frame's tokens (same results; the work moves off the "
          "path from a frame to its prediction)", DEFAULT_PREFILL_AHEAD,
          flags | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_CONTEXT_POLICY,
      g_param_spec_enum ("context-policy", "Context policy",
          "Which frames a prediction sees once context-frames - 1 are in context: slide (the "
          "last context-frames - 1, all run through the model again for every frame, as the "
          "reference's rollout) or refresh (IRIS's cache: each frame is appended and runs its "
          "own tokens only; when the window is full it restarts from the newest frame, so "
          "predictions see 1 to context-frames - 1 frames). Takes effect at the next frame",
          GST_TYPE_AR_PREDICT_CONTEXT_POLICY, DEFAULT_CONTEXT_POLICY,
          flags | GST_PARAM_MUTABLE_PLAYING));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_add_static_pad_template (element_class, &action_template);
  gst_element_class_set_static_metadata (element_class, "Video world model predictor",
      "Filter/Video", "Predicts the next token frames of a video from its past frames and "
      "actions with a transformer world model on the GPU (Vulkan)", "arvideo developers");

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_ar_predict_change_state);
  element_class->set_context = GST_DEBUG_FUNCPTR (gst_ar_predict_set_context);
  element_class->request_new_pad = GST_DEBUG_FUNCPTR (gst_ar_predict_request_new_pad);
  element_class->release_pad = GST_DEBUG_FUNCPTR (gst_ar_predict_release_pad);

  gst_type_mark_as_plugin_api (GST_TYPE_AR_PREDICT_TIMESTAMP_MODE, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_AR_PREDICT_CONTEXT_POLICY, 0);
}

static void
gst_ar_predict_init (GstArPredict *self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_ar_predict_sink_chain));
  gst_pad_set_event_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_ar_predict_sink_event));
  gst_pad_set_query_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_ar_predict_query));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_event_function (self->srcpad, GST_DEBUG_FUNCPTR (gst_ar_predict_src_event));
  gst_pad_set_query_function (self->srcpad, GST_DEBUG_FUNCPTR (gst_ar_predict_query));
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  self->horizon = DEFAULT_HORIZON;
  self->temperature = DEFAULT_TEMPERATURE;
  self->top_k = DEFAULT_TOP_K;
  self->top_p = DEFAULT_TOP_P;
  self->seed = DEFAULT_SEED;
  self->timestamp_mode = DEFAULT_TIMESTAMP_MODE;
  self->held_key = -1;
  self->action_timeout = DEFAULT_ACTION_TIMEOUT;
  self->prefill_ahead = DEFAULT_PREFILL_AHEAD;
  self->context_policy = DEFAULT_CONTEXT_POLICY;
  self->latest_action_running_time = GST_CLOCK_TIME_NONE;
  g_mutex_init (&self->action_lock);
  g_cond_init (&self->action_cond);
  ar_action_queue_init (&self->timed_actions);
  ar_action_pad_format_reset (&self->action_format);
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
  self->earliest_time = GST_CLOCK_TIME_NONE;
}
