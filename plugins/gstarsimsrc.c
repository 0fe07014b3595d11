/**
 * SECTION:element-arsimsrc
 * @title: arsimsrc
 * @see_also: arrecord, arpredict, #ArActionMeta
 *
 * Renders the simulator world (common/ar-sim.h: an agent disc driven by a 2D velocity that
 * pushes an object disc around a walled arena, optionally with distractors) at the size and
 * rate its caps ask for (default 64x64 at 15/1). The world is deterministic for a #GstArSimSrc:seed
 * and the actions applied.
 *
 * Each frame t carries an #ArActionMeta (continuous, dim 2) with the action a_t applied
 * after it, the one that produces frame t+1: render frame t, choose a_t, attach it, step. So
 * `arsimsrc ! artokenize ! arpredict` gets the actions with no extra wiring. Values are
 * velocities in [-1, 1] (clamped) in image coordinates: x to the right, y down.
 *
 * The action for a frame comes from, in order of precedence:
 *
 * 1. the "action" request pad (caps application/x-ar-action, format=F32 or S32, dim=2): the
 *    latest action whose running time is at or before the frame's (actions are not waited for;
 *    an untimed one applies from the next frame);
 * 2. navigation key events from downstream (e.g. a video sink's window): the arrow keys
 *    move the agent at full speed while they are held (two keys give a diagonal);
 * 3. the #GstArSimSrc:action property, when set;
 * 4. the #GstArSimSrc:policy: random (smooth walks, pushes of the object, jittery key-like motions), scripted (a fixed loop) or none
 *    (stand still).
 *
 * Timestamps come from the frame count and the rate. With #GstArSimSrc:is-live the element
 * produces frames in real time (it waits on the clock), which the keyboard needs.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 arsimsrc num-buffers=150 seed=3 ! video/x-raw,width=256,height=256 ! \
 *     videoconvert ! autovideosink
 * ]| Ten seconds of the random policy.
 * |[
 * gst-launch-1.0 arsimsrc is-live=true policy=none ! video/x-raw,width=256,height=256 ! \
 *     videoconvert ! xvimagesink
 * ]| Drive the agent with the arrow keys in the window.
 */
#include "gstarsimsrc.h"
#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_ar_sim_src_debug);
#define GST_CAT_DEFAULT gst_ar_sim_src_debug

#define DEFAULT_SEED 0
#define DEFAULT_DISTRACTORS 0
#define DEFAULT_POLICY GST_AR_SIM_SRC_POLICY_RANDOM
#define DEFAULT_IS_LIVE FALSE
#define DEFAULT_WIDTH 64
#define DEFAULT_HEIGHT 64
#define DEFAULT_FPS_N 15
#define DEFAULT_FPS_D 1

enum {
  PROP_0,
  PROP_SEED,
  PROP_DISTRACTORS,
  PROP_POLICY,
  PROP_ACTION,
  PROP_IS_LIVE,
};

/* Frames need a rate: timestamps come from it. */
#define SIM_CAPS "video/x-raw, format = (string) { RGB, RGBx, BGRx, RGBA }, " \
  "width = (int) [ 1, 8192 ], height = (int) [ 1, 8192 ], " \
  "framerate = (fraction) [ 1/2147483647, 2147483647/1 ]"

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (SIM_CAPS));

static GstStaticPadTemplate action_template = GST_STATIC_PAD_TEMPLATE ("action",
    GST_PAD_SINK, GST_PAD_REQUEST,
    GST_STATIC_CAPS ("application/x-ar-action, format = (string) { F32, S32 }, "
        "dim = (int) " G_STRINGIFY (AR_SIM_ACTION_DIM)));

#define gst_ar_sim_src_parent_class parent_class
G_DEFINE_TYPE (GstArSimSrc, gst_ar_sim_src, GST_TYPE_PUSH_SRC);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (arsimsrc, "arsimsrc", GST_RANK_NONE,
    GST_TYPE_AR_SIM_SRC,
    GST_DEBUG_CATEGORY_INIT (gst_ar_sim_src_debug, "arsimsrc", 0, "arvideo simulator source"));

GType
gst_ar_sim_src_policy_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    { GST_AR_SIM_SRC_POLICY_RANDOM, "Random phases: smooth walks, pushes of the object, jittery key-like motions",
        "random" },
    { GST_AR_SIM_SRC_POLICY_SCRIPTED, "A fixed loop around the arena", "scripted" },
    { GST_AR_SIM_SRC_POLICY_NONE, "No motion unless keys, the action pad or property act",
        "none" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstArSimSrcPolicy", values));
  return type;
}

/* ---- actions ---------------------------------------------------------------------------- */

/* The action a_t for the frame at @running_time, by precedence (see the documentation). */
static void
gst_ar_sim_src_choose_action (GstArSimSrc *self, GstClockTime running_time,
    float action[AR_SIM_ACTION_DIM])
{
  GstArSimSrcPolicy policy;
  guint held, n = 0;
  gfloat values[AR_SIM_ACTION_DIM];

  g_mutex_lock (&self->action_lock);
  if (self->actionpad)
    n = ar_action_queue_take (&self->pad_actions, running_time, values, AR_SIM_ACTION_DIM);
  held = self->held_keys;
  g_mutex_unlock (&self->action_lock);
  if (n == AR_SIM_ACTION_DIM) {
    action[0] = values[0];
    action[1] = values[1];
    return;
  }
  if (held) {
    ar_action_arrow_keys_direction (held, action);
    return;
  }

  GST_OBJECT_LOCK (self);
  policy = self->policy;
  if (self->property_action) {
    action[0] = g_array_index (self->property_action, gfloat, 0);
    action[1] = g_array_index (self->property_action, gfloat, 1);
    GST_OBJECT_UNLOCK (self);
    return;
  }
  GST_OBJECT_UNLOCK (self);

  switch (policy) {
    case GST_AR_SIM_SRC_POLICY_RANDOM:
      ar_sim_policy_action (self->sim, AR_SIM_POLICY_RANDOM, action);
      break;
    case GST_AR_SIM_SRC_POLICY_SCRIPTED:
      ar_sim_policy_action (self->sim, AR_SIM_POLICY_SCRIPTED, action);
      break;
    default:
      action[0] = action[1] = 0.0f;
      break;
  }
}

/* ---- action pad ------------------------------------------------------------------------- */

static GstFlowReturn
gst_ar_sim_src_action_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  GstArSimSrc *self = GST_AR_SIM_SRC (parent);
  gfloat values[AR_ACTION_META_MAX_DIM];
  GstClockTime running_time;
  GstFlowReturn ret;
  guint dim;

  ret = ar_action_pad_read (GST_ELEMENT (self), &self->action_lock, &self->action_format,
      buffer, values, &dim, &running_time);
  gst_buffer_unref (buffer);
  if (ret != GST_FLOW_OK)
    return ret;
  g_mutex_lock (&self->action_lock);
  /* Untimed: from the next frame on (GST_CLOCK_TIME_NONE matches any frame). */
  ar_action_queue_push (&self->pad_actions, running_time, values, dim);
  g_mutex_unlock (&self->action_lock);
  GST_LOG_OBJECT (self, "action (%g, %g) at %" GST_TIME_FORMAT, values[0], values[1],
      GST_TIME_ARGS (running_time));
  return GST_FLOW_OK;
}

static gboolean
gst_ar_sim_src_action_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstArSimSrc *self = GST_AR_SIM_SRC (parent);
  gboolean ok = TRUE;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CAPS: {
      GstCaps *caps;
      gboolean is_float;
      guint dim;
      gst_event_parse_caps (event, &caps);
      ok = ar_action_caps_parse (caps, &is_float, &dim) && dim == AR_SIM_ACTION_DIM;
      if (ok) {
        ar_action_pad_format_set (&self->action_format, &self->action_lock, is_float, dim);
      } else {
        GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
            ("The action pad takes %d values, not %" GST_PTR_FORMAT, AR_SIM_ACTION_DIM, caps),
            (NULL));
      }
      break;
    }
    case GST_EVENT_SEGMENT:
      g_mutex_lock (&self->action_lock);
      gst_event_copy_segment (event, &self->action_format.segment);
      g_mutex_unlock (&self->action_lock);
      break;
    case GST_EVENT_FLUSH_STOP:
      g_mutex_lock (&self->action_lock);
      ar_action_queue_clear (&self->pad_actions);
      g_mutex_unlock (&self->action_lock);
      break;
    default:
      break;
  }
  /* Actions are consumed here; EOS on the pad keeps the last action in force. */
  gst_event_unref (event);
  return ok;
}

static GstPad *
gst_ar_sim_src_request_new_pad (GstElement *element, GstPadTemplate *templ,
    const gchar *name, const GstCaps *caps)
{
  GstArSimSrc *self = GST_AR_SIM_SRC (element);
  GstPad *pad;

  pad = ar_action_pad_new (element, templ, &self->actionpad,
      GST_DEBUG_FUNCPTR (gst_ar_sim_src_action_chain),
      GST_DEBUG_FUNCPTR (gst_ar_sim_src_action_event));
  if (!pad)
    return NULL;
  g_mutex_lock (&self->action_lock);
  ar_action_pad_format_reset (&self->action_format);
  ar_action_queue_clear (&self->pad_actions);
  GST_OBJECT_LOCK (self);
  self->actionpad = pad;
  GST_OBJECT_UNLOCK (self);
  g_mutex_unlock (&self->action_lock);
  ar_action_pad_add (element, pad);
  return pad;
}

static void
gst_ar_sim_src_release_pad (GstElement *element, GstPad *pad)
{
  GstArSimSrc *self = GST_AR_SIM_SRC (element);

  g_mutex_lock (&self->action_lock);
  GST_OBJECT_LOCK (self);
  if (self->actionpad == pad)
    self->actionpad = NULL;
  GST_OBJECT_UNLOCK (self);
  ar_action_queue_clear (&self->pad_actions);
  g_mutex_unlock (&self->action_lock);
  ar_action_pad_remove (element, pad);
}

/* ---- base source ------------------------------------------------------------------------ */

static GstCaps *
gst_ar_sim_src_fixate (GstBaseSrc *src, GstCaps *caps)
{
  GstStructure *s;

  caps = gst_caps_make_writable (caps);
  caps = gst_caps_truncate (caps);
  s = gst_caps_get_structure (caps, 0);
  gst_structure_fixate_field_nearest_int (s, "width", DEFAULT_WIDTH);
  gst_structure_fixate_field_nearest_int (s, "height", DEFAULT_HEIGHT);
  gst_structure_fixate_field_nearest_fraction (s, "framerate", DEFAULT_FPS_N, DEFAULT_FPS_D);
  if (gst_structure_has_field (s, "format"))
    gst_structure_fixate_field_string (s, "format", "RGB");
  return GST_BASE_SRC_CLASS (parent_class)->fixate (src, caps);
}

static gboolean
gst_ar_sim_src_set_caps (GstBaseSrc *src, GstCaps *caps)
{
  GstArSimSrc *self = GST_AR_SIM_SRC (src);
  GstVideoInfo info;

  if (!gst_video_info_from_caps (&info, caps) || GST_VIDEO_INFO_FPS_N (&info) <= 0) {
    GST_ERROR_OBJECT (self, "unusable caps %" GST_PTR_FORMAT, caps);
    return FALSE;
  }
  /* A rate change keeps the clock running from the current time. */
  self->info = info;
  gst_base_src_set_blocksize (src, GST_VIDEO_INFO_SIZE (&info));
  GST_INFO_OBJECT (self, "rendering %dx%d %s at %d/%d", GST_VIDEO_INFO_WIDTH (&info),
      GST_VIDEO_INFO_HEIGHT (&info), GST_VIDEO_INFO_NAME (&info), GST_VIDEO_INFO_FPS_N (&info),
      GST_VIDEO_INFO_FPS_D (&info));
  return TRUE;
}

static GstClockTime
gst_ar_sim_src_frame_time (GstArSimSrc *self, guint64 n)
{
  return gst_util_uint64_scale (n, GST_SECOND * (guint64) GST_VIDEO_INFO_FPS_D (&self->info),
      GST_VIDEO_INFO_FPS_N (&self->info));
}

static gboolean
gst_ar_sim_src_start (GstBaseSrc *src)
{
  GstArSimSrc *self = GST_AR_SIM_SRC (src);
  guint64 seed;
  guint distractors;

  GST_OBJECT_LOCK (self);
  seed = self->seed;
  distractors = self->distractors;
  GST_OBJECT_UNLOCK (self);
  g_clear_pointer (&self->sim, ar_sim_free);
  self->sim = ar_sim_new (seed, distractors);
  self->n_frames = 0;
  gst_video_info_init (&self->info);
  GST_INFO_OBJECT (self, "world of seed %" G_GUINT64_FORMAT " with %u distractors", seed,
      distractors);
  return TRUE;
}

static gboolean
gst_ar_sim_src_stop (GstBaseSrc *src)
{
  GstArSimSrc *self = GST_AR_SIM_SRC (src);

  g_clear_pointer (&self->sim, ar_sim_free);
  g_mutex_lock (&self->action_lock);
  self->held_keys = 0;
  ar_action_queue_clear (&self->pad_actions);
  g_mutex_unlock (&self->action_lock);
  return TRUE;
}

static gboolean
gst_ar_sim_src_is_seekable (GstBaseSrc *src)
{
  /* The world only runs forward. */
  return FALSE;
}

static void
gst_ar_sim_src_get_times (GstBaseSrc *src, GstBuffer *buffer, GstClockTime *start,
    GstClockTime *end)
{
  /* Live: the base class waits on the clock until each frame's time. */
  if (gst_base_src_is_live (src) && GST_BUFFER_PTS_IS_VALID (buffer)) {
    *start = GST_BUFFER_PTS (buffer);
    *end = GST_BUFFER_DURATION_IS_VALID (buffer)
        ? *start + GST_BUFFER_DURATION (buffer) : GST_CLOCK_TIME_NONE;
  } else {
    *start = *end = GST_CLOCK_TIME_NONE;
  }
}

static gboolean
gst_ar_sim_src_query (GstBaseSrc *src, GstQuery *query)
{
  GstArSimSrc *self = GST_AR_SIM_SRC (src);

  if (GST_QUERY_TYPE (query) == GST_QUERY_LATENCY && GST_VIDEO_INFO_FPS_N (&self->info) > 0) {
    /* A live frame is complete one frame duration after its timestamp. */
    GstClockTime latency = gst_ar_sim_src_frame_time (self, 1);
    gst_query_set_latency (query, gst_base_src_is_live (src), latency, latency);
    return TRUE;
  }
  return GST_BASE_SRC_CLASS (parent_class)->query (src, query);
}

static gboolean
gst_ar_sim_src_event (GstBaseSrc *src, GstEvent *event)
{
  GstArSimSrc *self = GST_AR_SIM_SRC (src);

  if (GST_EVENT_TYPE (event) == GST_EVENT_NAVIGATION) {
    gboolean pressed = FALSE;
    const gchar *key = ar_action_key_event (event, &pressed);
    guint bit = ar_action_arrow_key (key);
    if (bit) {
      g_mutex_lock (&self->action_lock);
      if (pressed)
        self->held_keys |= bit;
      else
        self->held_keys &= ~bit;
      g_mutex_unlock (&self->action_lock);
      GST_DEBUG_OBJECT (self, "key %s %s", key, pressed ? "pressed" : "released");
      return TRUE;
    }
    return FALSE;
  }
  return GST_BASE_SRC_CLASS (parent_class)->event (src, event);
}

static GstFlowReturn
gst_ar_sim_src_fill (GstPushSrc *psrc, GstBuffer *buffer)
{
  GstArSimSrc *self = GST_AR_SIM_SRC (psrc);
  GstVideoFrame frame;
  GstClockTime pts, next;
  float action[AR_SIM_ACTION_DIM];
  GstVideoFormat format = GST_VIDEO_INFO_FORMAT (&self->info);
  guint i;

  if (GST_VIDEO_INFO_FPS_N (&self->info) <= 0) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL), ("no caps negotiated"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (!gst_video_frame_map (&frame, &self->info, buffer, GST_MAP_WRITE)) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("Cannot map the output frame"), (NULL));
    return GST_FLOW_ERROR;
  }
  ar_sim_render (self->sim, GST_VIDEO_FRAME_PLANE_DATA (&frame, 0),
      GST_VIDEO_FRAME_WIDTH (&frame), GST_VIDEO_FRAME_HEIGHT (&frame),
      GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0), GST_VIDEO_FRAME_COMP_PSTRIDE (&frame, 0),
      format == GST_VIDEO_FORMAT_BGRx);
  gst_video_frame_unmap (&frame);

  pts = gst_ar_sim_src_frame_time (self, self->n_frames);
  next = gst_ar_sim_src_frame_time (self, self->n_frames + 1);
  GST_BUFFER_PTS (buffer) = pts;
  GST_BUFFER_DTS (buffer) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION (buffer) = next - pts;
  GST_BUFFER_OFFSET (buffer) = self->n_frames;
  GST_BUFFER_OFFSET_END (buffer) = self->n_frames + 1;
  if (self->n_frames == 0)
    GST_BUFFER_FLAG_SET (buffer, GST_BUFFER_FLAG_DISCONT);

  /* Segment starts at 0 and the rate is 1: the running time is the PTS. */
  gst_ar_sim_src_choose_action (self, pts, action);
  /* Recorded as applied: the world clamps to [-1, 1] and treats NaN as 0. */
  for (i = 0; i < AR_SIM_ACTION_DIM; i++)
    action[i] = isnan (action[i]) ? 0.0f : CLAMP (action[i], -1.0f, 1.0f);
  ar_buffer_add_action_meta_continuous (buffer, action, AR_SIM_ACTION_DIM);
  ar_sim_step (self->sim, action);
  GST_LOG_OBJECT (self, "frame %" G_GUINT64_FORMAT " at %" GST_TIME_FORMAT ", action (%g, %g)",
      self->n_frames, GST_TIME_ARGS (pts), action[0], action[1]);
  self->n_frames++;
  return GST_FLOW_OK;
}

/* ---- element ---------------------------------------------------------------------------- */

static void
gst_ar_sim_src_set_property (GObject *object, guint prop_id, const GValue *value,
    GParamSpec *pspec)
{
  GstArSimSrc *self = GST_AR_SIM_SRC (object);

  switch (prop_id) {
    case PROP_SEED:
      GST_OBJECT_LOCK (self);
      self->seed = g_value_get_uint64 (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_DISTRACTORS:
      GST_OBJECT_LOCK (self);
      self->distractors = g_value_get_uint (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_POLICY:
      GST_OBJECT_LOCK (self);
      self->policy = g_value_get_enum (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_ACTION: {
      const gchar *text = g_value_get_string (value);
      GArray *parsed = ar_action_parse_string (text);
      gboolean empty = text == NULL || *text == '\0';
      if (!empty && (!parsed || parsed->len != AR_SIM_ACTION_DIM)) {
        GST_WARNING_OBJECT (self, "ignoring action \"%s\": want two numbers \"vx,vy\"", text);
        g_clear_pointer (&parsed, g_array_unref);
        break;
      }
      GST_OBJECT_LOCK (self);
      g_free (self->action_string);
      self->action_string = g_strdup (text);
      g_clear_pointer (&self->property_action, g_array_unref);
      self->property_action = parsed;
      GST_OBJECT_UNLOCK (self);
      break;
    }
    case PROP_IS_LIVE:
      gst_base_src_set_live (GST_BASE_SRC (self), g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_ar_sim_src_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstArSimSrc *self = GST_AR_SIM_SRC (object);

  switch (prop_id) {
    case PROP_SEED:
      GST_OBJECT_LOCK (self);
      g_value_set_uint64 (value, self->seed);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_DISTRACTORS:
      GST_OBJECT_LOCK (self);
      g_value_set_uint (value, self->distractors);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_POLICY:
      GST_OBJECT_LOCK (self);
      g_value_set_enum (value, self->policy);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_ACTION:
      GST_OBJECT_LOCK (self);
      g_value_set_string (value, self->action_string);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_IS_LIVE:
      g_value_set_boolean (value, gst_base_src_is_live (GST_BASE_SRC (self)));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_ar_sim_src_finalize (GObject *object)
{
  GstArSimSrc *self = GST_AR_SIM_SRC (object);

  g_clear_pointer (&self->sim, ar_sim_free);
  g_free (self->action_string);
  g_clear_pointer (&self->property_action, g_array_unref);
  ar_action_queue_clear (&self->pad_actions);
  g_mutex_clear (&self->action_lock);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_ar_sim_src_class_init (GstArSimSrcClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *base_class = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *push_class = GST_PUSH_SRC_CLASS (klass);

  gobject_class->set_property = gst_ar_sim_src_set_property;
  gobject_class->get_property = gst_ar_sim_src_get_property;
  gobject_class->finalize = gst_ar_sim_src_finalize;

  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint64 ("seed", "Seed",
          "Seed of the world (initial positions and the random policy); used at start",
          0, G_MAXUINT64, DEFAULT_SEED, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_DISTRACTORS,
      g_param_spec_uint ("distractors", "Distractors",
          "Number of distractor discs that drift on their own; used at start",
          0, AR_SIM_MAX_DISTRACTORS, DEFAULT_DISTRACTORS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_POLICY,
      g_param_spec_enum ("policy", "Policy",
          "Where actions come from when no action pad, key or action property supplies one",
          GST_TYPE_AR_SIM_SRC_POLICY, DEFAULT_POLICY,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_ACTION,
      g_param_spec_string ("action", "Action",
          "A constant action \"vx,vy\" (each in [-1, 1], y down) that overrides the policy; "
          "empty = none", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_IS_LIVE,
      g_param_spec_boolean ("is-live", "Is live",
          "Produce frames in real time (needed to drive the world by hand)",
          DEFAULT_IS_LIVE, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));

  gst_element_class_set_static_metadata (element_class, "AR simulator source",
      "Source/Video", "Renders a small 2D robot world with actions for world models",
      "arvideo");
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_add_static_pad_template (element_class, &action_template);
  element_class->request_new_pad = GST_DEBUG_FUNCPTR (gst_ar_sim_src_request_new_pad);
  element_class->release_pad = GST_DEBUG_FUNCPTR (gst_ar_sim_src_release_pad);

  base_class->fixate = GST_DEBUG_FUNCPTR (gst_ar_sim_src_fixate);
  base_class->set_caps = GST_DEBUG_FUNCPTR (gst_ar_sim_src_set_caps);
  base_class->start = GST_DEBUG_FUNCPTR (gst_ar_sim_src_start);
  base_class->stop = GST_DEBUG_FUNCPTR (gst_ar_sim_src_stop);
  base_class->is_seekable = GST_DEBUG_FUNCPTR (gst_ar_sim_src_is_seekable);
  base_class->get_times = GST_DEBUG_FUNCPTR (gst_ar_sim_src_get_times);
  base_class->query = GST_DEBUG_FUNCPTR (gst_ar_sim_src_query);
  base_class->event = GST_DEBUG_FUNCPTR (gst_ar_sim_src_event);
  push_class->fill = GST_DEBUG_FUNCPTR (gst_ar_sim_src_fill);

  gst_type_mark_as_plugin_api (GST_TYPE_AR_SIM_SRC_POLICY, 0);
}

static void
gst_ar_sim_src_init (GstArSimSrc *self)
{
  self->seed = DEFAULT_SEED;
  self->distractors = DEFAULT_DISTRACTORS;
  self->policy = DEFAULT_POLICY;
  g_mutex_init (&self->action_lock);
  ar_action_queue_init (&self->pad_actions);
  ar_action_pad_format_reset (&self->action_format);
  gst_video_info_init (&self->info);
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
  gst_base_src_set_live (GST_BASE_SRC (self), DEFAULT_IS_LIVE);
}
