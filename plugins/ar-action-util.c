#include "ar-action-util.h"
#include <gst/video/navigation.h>
#include <math.h>
#include <string.h>

GArray *
ar_action_parse_string (const gchar *text)
{
  gchar **parts;
  GArray *values;
  guint i;

  if (text == NULL)
    return NULL;
  parts = g_strsplit (text, ",", -1);
  if (!parts[0] || (!parts[1] && *g_strstrip (parts[0]) == '\0')) {
    g_strfreev (parts);
    return NULL;
  }
  values = g_array_new (FALSE, FALSE, sizeof (gfloat));
  for (i = 0; parts[i]; i++) {
    gchar *end;
    gchar *item = g_strstrip (parts[i]);
    gdouble v = g_ascii_strtod (item, &end);
    if (*item == '\0' || *end != '\0' || !isfinite (v) || i >= AR_ACTION_META_MAX_DIM) {
      g_array_unref (values);
      values = NULL;
      break;
    }
    g_array_append_vals (values, &(gfloat) { (gfloat) v }, 1);
  }
  g_strfreev (parts);
  return values;
}

gboolean
ar_action_caps_parse (const GstCaps *caps, gboolean *is_float, guint *dim)
{
  const GstStructure *s;
  const gchar *format;
  gint d;

  if (!caps || gst_caps_get_size (caps) != 1)
    return FALSE;
  s = gst_caps_get_structure (caps, 0);
  format = gst_structure_get_string (s, "format");
  if (!gst_structure_has_name (s, "application/x-ar-action") || !format
      || !gst_structure_get_int (s, "dim", &d) || d < 1 || d > AR_ACTION_META_MAX_DIM)
    return FALSE;
  if (g_str_equal (format, "F32"))
    *is_float = TRUE;
  else if (g_str_equal (format, "S32"))
    *is_float = FALSE;
  else
    return FALSE;
  *dim = (guint) d;
  return TRUE;
}

gboolean
ar_action_buffer_read (GstBuffer *buffer, gboolean is_float, guint dim, gfloat *values,
    GError **error)
{
  GstMapInfo map;
  gsize expected = (gsize) dim * 4;
  guint i;

  if (!gst_buffer_map (buffer, &map, GST_MAP_READ)) {
    g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED,
        "cannot map the action buffer");
    return FALSE;
  }
  if (map.size != expected) {
    g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_FORMAT,
        "action buffer of %" G_GSIZE_FORMAT " bytes, expected %" G_GSIZE_FORMAT
        " (%u %s values)", map.size, expected, dim, is_float ? "F32" : "S32");
    gst_buffer_unmap (buffer, &map);
    return FALSE;
  }
  for (i = 0; i < dim; i++) {
    if (is_float) {
      gfloat v;
      memcpy (&v, map.data + 4 * i, 4);
      values[i] = v;
    } else {
      gint32 v;
      memcpy (&v, map.data + 4 * i, 4);
      values[i] = (gfloat) v;
    }
  }
  gst_buffer_unmap (buffer, &map);
  return TRUE;
}

typedef struct {
  GstClockTime running_time;
  guint dim;
  gfloat values[AR_ACTION_META_MAX_DIM];
} TimedAction;

void
ar_action_queue_init (ArActionQueue *q)
{
  g_queue_init (&q->queue);
}

void
ar_action_queue_clear (ArActionQueue *q)
{
  g_queue_clear_full (&q->queue, g_free);
}

void
ar_action_queue_push (ArActionQueue *q, GstClockTime running_time, const gfloat *values,
    guint dim)
{
  TimedAction *a = g_new0 (TimedAction, 1);

  a->running_time = running_time;
  a->dim = MIN (dim, AR_ACTION_META_MAX_DIM);
  memcpy (a->values, values, a->dim * sizeof (gfloat));
  g_queue_push_tail (&q->queue, a);
}

guint
ar_action_queue_take (ArActionQueue *q, GstClockTime running_time, gfloat *values,
    guint max_dim)
{
  TimedAction *found = NULL;
  GList *l;
  guint n;

  for (l = q->queue.head; l; l = l->next) {
    TimedAction *a = l->data;
    if (a->running_time != GST_CLOCK_TIME_NONE && running_time != GST_CLOCK_TIME_NONE
        && a->running_time > running_time)
      break;
    found = a;
  }
  if (!found)
    return 0;
  /* The found action stays: it holds until a newer one applies. */
  while (q->queue.head->data != found)
    g_free (g_queue_pop_head (&q->queue));
  n = MIN (found->dim, max_dim);
  memcpy (values, found->values, n * sizeof (gfloat));
  return n;
}

void
ar_action_pad_format_reset (ArActionPadFormat *format)
{
  gst_segment_init (&format->segment, GST_FORMAT_TIME);
  format->is_float = FALSE;
  format->dim = 0;
}

void
ar_action_pad_format_set (ArActionPadFormat *format, GMutex *lock, gboolean is_float,
    guint dim)
{
  g_mutex_lock (lock);
  format->is_float = is_float;
  format->dim = dim;
  g_mutex_unlock (lock);
}

GstPad *
ar_action_pad_new (GstElement *element, GstPadTemplate *templ, GstPad *const *slot,
    GstPadChainFunction chain, GstPadEventFunction event)
{
  GstPad *pad;

  GST_OBJECT_LOCK (element);
  if (*slot) {
    GST_OBJECT_UNLOCK (element);
    GST_WARNING_OBJECT (element, "there is already an action pad");
    return NULL;
  }
  GST_OBJECT_UNLOCK (element);

  pad = gst_pad_new_from_template (templ, "action");
  gst_pad_set_chain_function (pad, chain);
  gst_pad_set_event_function (pad, event);
  return pad;
}

void
ar_action_pad_add (GstElement *element, GstPad *pad)
{
  gst_pad_set_active (pad, GST_STATE (element) > GST_STATE_READY);
  gst_element_add_pad (element, pad);
}

void
ar_action_pad_remove (GstElement *element, GstPad *pad)
{
  gst_pad_set_active (pad, FALSE);
  gst_element_remove_pad (element, pad);
}

GstFlowReturn
ar_action_pad_read (GstElement *element, GMutex *lock, const ArActionPadFormat *format,
    GstBuffer *buffer, gfloat *values, guint *dim, GstClockTime *running_time)
{
  GError *error = NULL;
  gboolean is_float;

  g_mutex_lock (lock);
  is_float = format->is_float;
  *dim = format->dim;
  g_mutex_unlock (lock);
  if (*dim == 0) {
    GST_ELEMENT_ERROR (element, CORE, NEGOTIATION, ("Action buffer arrived before caps"),
        (NULL));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (!ar_action_buffer_read (buffer, is_float, *dim, values, &error)) {
    GST_ELEMENT_ERROR (element, STREAM, FORMAT, ("Wrong action: %s", error->message), (NULL));
    g_clear_error (&error);
    return GST_FLOW_ERROR;
  }
  g_mutex_lock (lock);
  *running_time = gst_segment_to_running_time (&format->segment, GST_FORMAT_TIME,
      GST_BUFFER_PTS (buffer));
  g_mutex_unlock (lock);
  return GST_FLOW_OK;
}

const gchar *
ar_action_key_event (GstEvent *event, gboolean *pressed)
{
  GstNavigationEventType type;
  const gchar *key = NULL;

  if (GST_EVENT_TYPE (event) != GST_EVENT_NAVIGATION)
    return NULL;
  type = gst_navigation_event_get_type (event);
  if ((type != GST_NAVIGATION_EVENT_KEY_PRESS && type != GST_NAVIGATION_EVENT_KEY_RELEASE)
      || !gst_navigation_event_parse_key_event (event, &key))
    return NULL;
  *pressed = type == GST_NAVIGATION_EVENT_KEY_PRESS;
  return key;
}

static const struct {
  const gchar *key;
  gfloat x, y;
} arrow_keys[] = {
  { "Left", -1.0f, 0.0f },
  { "Right", 1.0f, 0.0f },
  { "Up", 0.0f, -1.0f },
  { "Down", 0.0f, 1.0f },
};

guint
ar_action_arrow_key (const gchar *key)
{
  guint i;

  for (i = 0; key && i < G_N_ELEMENTS (arrow_keys); i++)
    if (g_str_equal (key, arrow_keys[i].key))
      return 1u << i;
  return 0;
}

void
ar_action_arrow_keys_direction (guint held, gfloat direction[2])
{
  guint i;

  direction[0] = direction[1] = 0.0f;
  for (i = 0; i < G_N_ELEMENTS (arrow_keys); i++)
    if (held & (1u << i)) {
      direction[0] += arrow_keys[i].x;
      direction[1] += arrow_keys[i].y;
    }
}
