/**
 * SECTION:element-arrecord
 * @title: arrecord
 * @see_also: arsimsrc, #ArActionMeta
 *
 * Records episodes from any pipeline in the `arvideo-episode/1` format (docs/recording.md):
 * the frames, the action taken at each frame (from its #ArActionMeta) and the timestamps, in
 * one safetensors file per episode.
 *
 * An episode is written at EOS, or as soon as it holds #GstArRecord:max-frames frames (the
 * stream is then split into several episodes; #GstArRecord:location needs a `%d` for the
 * episode index). Frames still pending when the element stops without EOS are dropped (with
 * a warning): use `gst-launch-1.0 -e` so that Ctrl-C sends EOS. After each file, an element
 * message "arrecord" with the fields location (string) and frames (uint) is posted.
 *
 * The actions' kind comes from #GstArRecord:action-dim, by default from the first frame's
 * meta: continuous metas give F32 [T, dim] actions, discrete ones I32 [T] (a first frame
 * without a meta also gives I32). Frames without a (fitting) meta record an unknown action
 * (NaN or -1).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -e arsimsrc num-buffers=640 seed=7 ! arrecord \
 *     location=ep-%03d.safetensors max-frames=64 metadata="m, seed=7, policy=random"
 * ]| Ten episodes of 64 frames of the simulator.
 */
#include "gstarrecord.h"
#include "ar-action-meta.h"
#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_ar_record_debug);
#define GST_CAT_DEFAULT gst_ar_record_debug

#define DEFAULT_LOCATION "episode-%05d.safetensors"
#define DEFAULT_MAX_FRAMES 0
#define DEFAULT_ACTION_DIM -1

enum {
  PROP_0,
  PROP_LOCATION,
  PROP_MAX_FRAMES,
  PROP_ACTION_DIM,
  PROP_METADATA,
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE ("{ RGB, RGBx, RGBA, GRAY8 }")));

#define gst_ar_record_parent_class parent_class
G_DEFINE_TYPE (GstArRecord, gst_ar_record, GST_TYPE_BASE_SINK);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (arrecord, "arrecord", GST_RANK_NONE,
    GST_TYPE_AR_RECORD,
    GST_DEBUG_CATEGORY_INIT (gst_ar_record_debug, "arrecord", 0, "arvideo episode recorder"));

/* Expands @location for episode @index: "%d" or "%0Nd" (at most one) and "%%". Returns NULL
 * and sets @error for any other conversion. @has_index tells whether it has a "%d". */
static gchar *
expand_location (const gchar *location, guint index, gboolean *has_index, GError **error)
{
  GString *out = g_string_new (NULL);
  gboolean seen = FALSE;
  const gchar *p;

  for (p = location; *p; p++) {
    if (*p != '%') {
      g_string_append_c (out, *p);
      continue;
    }
    p++;
    if (*p == '%') {
      g_string_append_c (out, '%');
      continue;
    }
    {
      guint width = 0;
      gboolean zero = *p == '0';
      while (g_ascii_isdigit (*p) && width < 100)
        width = width * 10 + (guint) (*p++ - '0');
      if (*p != 'd' || seen || width >= 100) {
        g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
            "location \"%s\" may hold one %%d (or %%0Nd) and %%%% only", location);
        g_string_free (out, TRUE);
        return NULL;
      }
      seen = TRUE;
      g_string_append_printf (out, zero ? "%0*u" : "%*u", (int) width, index);
    }
  }
  if (has_index)
    *has_index = seen;
  return g_string_free (out, FALSE);
}

static gboolean
add_metadata_field (GQuark field, const GValue *value, gpointer writer)
{
  gchar *text = G_VALUE_HOLDS_STRING (value) ? g_value_dup_string (value)
      : gst_value_serialize (value);
  if (text)
    ar_episode_writer_set_metadata (writer, g_quark_to_string (field), text);
  g_free (text);
  return TRUE;
}

/* Writes the current episode (if it has frames) and forgets it. */
static gboolean
gst_ar_record_finish_episode (GstArRecord *self)
{
  GError *error = NULL;
  gchar *location, *path;
  guint frames;
  gboolean has_index = FALSE;

  if (!self->writer)
    return TRUE;
  frames = ar_episode_writer_n_frames (self->writer);
  if (frames == 0) {
    g_clear_pointer (&self->writer, ar_episode_writer_free);
    return TRUE;
  }
  GST_OBJECT_LOCK (self);
  location = g_strdup (self->location);
  GST_OBJECT_UNLOCK (self);
  path = location ? expand_location (location, self->episode, &has_index, &error) : NULL;
  if (!location) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("No location set"), (NULL));
    goto failed;
  }
  if (!path) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("%s", error->message), (NULL));
    goto failed;
  }
  if (self->episode > 0 && !has_index) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Location \"%s\" has no %%d, but this is episode %u: it would overwrite %s",
            location, self->episode, self->first_path), (NULL));
    goto failed;
  }
  if (!ar_episode_writer_save (self->writer, path, &error)) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
        ("Could not write episode %u to \"%s\": %s", self->episode, path, error->message),
        (NULL));
    goto failed;
  }
  GST_INFO_OBJECT (self, "wrote %u frames to %s", frames, path);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), gst_structure_new ("arrecord",
              "location", G_TYPE_STRING, path, "frames", G_TYPE_UINT, frames, NULL)));
  if (self->episode == 0)
    self->first_path = g_strdup (path);
  self->episode++;
  g_clear_pointer (&self->writer, ar_episode_writer_free);
  g_free (location);
  g_free (path);
  return TRUE;

failed:
  g_clear_error (&error);
  g_clear_pointer (&self->writer, ar_episode_writer_free);
  g_free (location);
  g_free (path);
  return FALSE;
}

/* A new episode for @buffer, its action kind from the property or the buffer's meta. */
static void
gst_ar_record_begin_episode (GstArRecord *self, GstBuffer *buffer)
{
  const ArActionMeta *meta = ar_buffer_get_action_meta (buffer);
  guint channels = GST_VIDEO_INFO_FORMAT (&self->info) == GST_VIDEO_FORMAT_GRAY8 ? 1 : 3;
  gint action_dim;
  gchar *fps;

  GST_OBJECT_LOCK (self);
  action_dim = self->action_dim;
  GST_OBJECT_UNLOCK (self);
  if (action_dim < 0)
    action_dim = meta && !meta->discrete ? (gint) meta->dim : 0;
  self->writer_action_dim = (guint) action_dim;
  self->writer = ar_episode_writer_new (GST_VIDEO_INFO_WIDTH (&self->info),
      GST_VIDEO_INFO_HEIGHT (&self->info), channels, self->writer_action_dim);

  fps = g_strdup_printf ("%d/%d", GST_VIDEO_INFO_FPS_N (&self->info),
      GST_VIDEO_INFO_FPS_D (&self->info));
  ar_episode_writer_set_metadata (self->writer, "fps", fps);
  g_free (fps);
  ar_episode_writer_set_metadata (self->writer, "source", "arrecord");
  GST_OBJECT_LOCK (self);
  if (self->metadata)
    gst_structure_foreach (self->metadata, add_metadata_field, self->writer);
  GST_OBJECT_UNLOCK (self);
  GST_DEBUG_OBJECT (self, "episode %u: %s actions (dim %u)", self->episode,
      self->writer_action_dim ? "continuous" : "discrete", self->writer_action_dim);
}

static GstFlowReturn
gst_ar_record_render (GstBaseSink *sink, GstBuffer *buffer)
{
  GstArRecord *self = GST_AR_RECORD (sink);
  const ArActionMeta *meta = ar_buffer_get_action_meta (buffer);
  gfloat values[AR_ACTION_META_MAX_DIM];
  const gfloat *action = NULL;
  gint32 discrete = -1;
  GstVideoFrame frame;
  guint max_frames;

  if (!self->writer)
    gst_ar_record_begin_episode (self, buffer);

  if (meta && self->writer_action_dim > 0 && !meta->discrete
      && meta->dim == self->writer_action_dim) {
    memcpy (values, meta->values, meta->dim * sizeof (gfloat));
    action = values;
  } else if (meta && self->writer_action_dim == 0 && meta->discrete) {
    discrete = (gint32) meta->index;
  } else if (meta && !self->warned_action) {
    GST_WARNING_OBJECT (self, "action meta (%s, dim %u) does not fit the episode's %s "
        "actions (dim %u): recorded as unknown", meta->discrete ? "discrete" : "continuous",
        meta->dim, self->writer_action_dim ? "continuous" : "discrete",
        self->writer_action_dim);
    self->warned_action = TRUE;
  }

  if (!gst_video_frame_map (&frame, &self->info, buffer, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Cannot map the frame"), (NULL));
    return GST_FLOW_ERROR;
  }
  ar_episode_writer_add (self->writer, GST_VIDEO_FRAME_PLANE_DATA (&frame, 0),
      GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0), GST_VIDEO_FRAME_COMP_PSTRIDE (&frame, 0),
      action, discrete,
      GST_BUFFER_PTS_IS_VALID (buffer) ? (gint64) GST_BUFFER_PTS (buffer) : -1);
  gst_video_frame_unmap (&frame);

  GST_OBJECT_LOCK (self);
  max_frames = self->max_frames;
  GST_OBJECT_UNLOCK (self);
  if (max_frames > 0 && ar_episode_writer_n_frames (self->writer) >= max_frames
      && !gst_ar_record_finish_episode (self))
    return GST_FLOW_ERROR;
  return GST_FLOW_OK;
}

static gboolean
gst_ar_record_set_caps (GstBaseSink *sink, GstCaps *caps)
{
  GstArRecord *self = GST_AR_RECORD (sink);
  GstVideoInfo info;

  if (!gst_video_info_from_caps (&info, caps))
    return FALSE;
  /* Frames of another size or format start a new episode. */
  if (self->writer && (GST_VIDEO_INFO_WIDTH (&info) != GST_VIDEO_INFO_WIDTH (&self->info)
          || GST_VIDEO_INFO_HEIGHT (&info) != GST_VIDEO_INFO_HEIGHT (&self->info)
          || GST_VIDEO_INFO_FORMAT (&info) != GST_VIDEO_INFO_FORMAT (&self->info))
      && !gst_ar_record_finish_episode (self))
    return FALSE;
  self->info = info;
  return TRUE;
}

static gboolean
gst_ar_record_event (GstBaseSink *sink, GstEvent *event)
{
  GstArRecord *self = GST_AR_RECORD (sink);

  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS && !gst_ar_record_finish_episode (self)) {
    gst_event_unref (event);
    return FALSE;
  }
  return GST_BASE_SINK_CLASS (parent_class)->event (sink, event);
}

static gboolean
gst_ar_record_start (GstBaseSink *sink)
{
  GstArRecord *self = GST_AR_RECORD (sink);
  GError *error = NULL;
  gchar *path;

  /* A malformed location fails now rather than after a whole episode. */
  GST_OBJECT_LOCK (self);
  path = self->location ? expand_location (self->location, 0, NULL, &error) : NULL;
  GST_OBJECT_UNLOCK (self);
  if (!path) {
    if (error)
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("%s", error->message), (NULL));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("No location set"), (NULL));
    g_clear_error (&error);
    return FALSE;
  }
  g_free (path);
  self->episode = 0;
  self->warned_action = FALSE;
  g_clear_pointer (&self->first_path, g_free);
  gst_video_info_init (&self->info);
  return TRUE;
}

static gboolean
gst_ar_record_stop (GstBaseSink *sink)
{
  GstArRecord *self = GST_AR_RECORD (sink);

  if (self->writer && ar_episode_writer_n_frames (self->writer) > 0)
    GST_WARNING_OBJECT (self, "stopped without EOS: dropping %u frames of episode %u",
        ar_episode_writer_n_frames (self->writer), self->episode);
  g_clear_pointer (&self->writer, ar_episode_writer_free);
  return TRUE;
}

/* ---- element ---------------------------------------------------------------------------- */

static void
gst_ar_record_set_property (GObject *object, guint prop_id, const GValue *value,
    GParamSpec *pspec)
{
  GstArRecord *self = GST_AR_RECORD (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LOCATION:
      g_free (self->location);
      self->location = g_value_dup_string (value);
      break;
    case PROP_MAX_FRAMES:
      self->max_frames = g_value_get_uint (value);
      break;
    case PROP_ACTION_DIM:
      self->action_dim = g_value_get_int (value);
      break;
    case PROP_METADATA:
      g_clear_pointer (&self->metadata, gst_structure_free);
      self->metadata = g_value_dup_boxed (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_ar_record_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstArRecord *self = GST_AR_RECORD (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LOCATION:
      g_value_set_string (value, self->location);
      break;
    case PROP_MAX_FRAMES:
      g_value_set_uint (value, self->max_frames);
      break;
    case PROP_ACTION_DIM:
      g_value_set_int (value, self->action_dim);
      break;
    case PROP_METADATA:
      g_value_set_boxed (value, self->metadata);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_ar_record_finalize (GObject *object)
{
  GstArRecord *self = GST_AR_RECORD (object);

  g_free (self->location);
  g_free (self->first_path);
  g_clear_pointer (&self->metadata, gst_structure_free);
  g_clear_pointer (&self->writer, ar_episode_writer_free);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_ar_record_class_init (GstArRecordClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSinkClass *sink_class = GST_BASE_SINK_CLASS (klass);

  gobject_class->set_property = gst_ar_record_set_property;
  gobject_class->get_property = gst_ar_record_get_property;
  gobject_class->finalize = gst_ar_record_finalize;

  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "File of an episode; %d (or %05d) is replaced by the episode index (0, 1, ...)",
          DEFAULT_LOCATION, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_MAX_FRAMES,
      g_param_spec_uint ("max-frames", "Max frames",
          "Frames per episode: a full episode is written and the next one begins "
          "(0 = one episode up to EOS)", 0, G_MAXUINT, DEFAULT_MAX_FRAMES,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_ACTION_DIM,
      g_param_spec_int ("action-dim", "Action dim",
          "Recorded actions: -1 = as the first frame's meta, 0 = discrete, N = N floats",
          -1, AR_ACTION_META_MAX_DIM, DEFAULT_ACTION_DIM,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_METADATA,
      g_param_spec_boxed ("metadata", "Metadata",
          "Free-form metadata for every episode (each field becomes a string key, e.g. "
          "\"m, seed=7, policy=random\")", GST_TYPE_STRUCTURE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));

  gst_element_class_set_static_metadata (element_class, "AR episode recorder",
      "Sink/Video", "Records frames, actions and timestamps as episodes for training",
      "arvideo");
  gst_element_class_add_static_pad_template (element_class, &sink_template);

  sink_class->set_caps = GST_DEBUG_FUNCPTR (gst_ar_record_set_caps);
  sink_class->render = GST_DEBUG_FUNCPTR (gst_ar_record_render);
  sink_class->event = GST_DEBUG_FUNCPTR (gst_ar_record_event);
  sink_class->start = GST_DEBUG_FUNCPTR (gst_ar_record_start);
  sink_class->stop = GST_DEBUG_FUNCPTR (gst_ar_record_stop);
}

static void
gst_ar_record_init (GstArRecord *self)
{
  self->location = g_strdup (DEFAULT_LOCATION);
  self->max_frames = DEFAULT_MAX_FRAMES;
  self->action_dim = DEFAULT_ACTION_DIM;
  gst_video_info_init (&self->info);
  /* An archive, not a display: no waiting on the clock. */
  gst_base_sink_set_sync (GST_BASE_SINK (self), FALSE);
}
