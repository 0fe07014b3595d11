#include "ar-action-meta.h"
#include <string.h>

/* Plain data: a copy is a memcpy of everything after the GstMeta header. */
#define DEFINE_PLAIN_META(prefix, Type, api_name, impl_name)                                  \
  static gboolean prefix##_init (GstMeta *meta, gpointer params, GstBuffer *buffer)          \
  {                                                                                          \
    memset ((guint8 *) meta + sizeof (GstMeta), 0, sizeof (Type) - sizeof (GstMeta));        \
    return TRUE;                                                                             \
  }                                                                                          \
  static gboolean prefix##_transform (GstBuffer *dest, GstMeta *meta, GstBuffer *buffer,     \
      GQuark type, gpointer data)                                                            \
  {                                                                                          \
    GstMeta *copy;                                                                           \
    /* No tags: the meta holds for any transformation of the frame, not just copies. */      \
    copy = gst_buffer_add_meta (dest, prefix##_get_info (), NULL);                           \
    if (!copy)                                                                               \
      return FALSE;                                                                          \
    memcpy ((guint8 *) copy + sizeof (GstMeta), (guint8 *) meta + sizeof (GstMeta),          \
        sizeof (Type) - sizeof (GstMeta));                                                   \
    return TRUE;                                                                             \
  }                                                                                          \
  GType prefix##_api_get_type (void)                                                         \
  {                                                                                          \
    static gsize type = 0;                                                                   \
    if (g_once_init_enter (&type)) {                                                         \
      static const gchar *tags[] = { NULL };                                                 \
      GType t = g_type_from_name (api_name);                                                 \
      if (t == 0)                                                                            \
        t = gst_meta_api_type_register (api_name, tags);                                     \
      g_once_init_leave (&type, t);                                                          \
    }                                                                                        \
    return type;                                                                             \
  }                                                                                          \
  const GstMetaInfo *prefix##_get_info (void)                                                \
  {                                                                                          \
    static const GstMetaInfo *info = NULL;                                                   \
    if (g_once_init_enter ((GstMetaInfo **) &info)) {                                        \
      const GstMetaInfo *i = gst_meta_get_info (impl_name);                                  \
      if (i == NULL)                                                                         \
        i = gst_meta_register (prefix##_api_get_type (), impl_name, sizeof (Type),           \
            prefix##_init, NULL, prefix##_transform);                                        \
      g_once_init_leave ((GstMetaInfo **) &info, (GstMetaInfo *) i);                         \
    }                                                                                        \
    return info;                                                                             \
  }

DEFINE_PLAIN_META (ar_action_meta, ArActionMeta, "ArActionMetaAPI", "ArActionMeta")
DEFINE_PLAIN_META (ar_prediction_meta, ArPredictionMeta, "ArPredictionMetaAPI",
    "ArPredictionMeta")

ArActionMeta *
ar_buffer_add_action_meta_discrete (GstBuffer *buffer, guint index)
{
  ArActionMeta *meta =
      (ArActionMeta *) gst_buffer_add_meta (buffer, ar_action_meta_get_info (), NULL);
  meta->discrete = TRUE;
  meta->index = index;
  return meta;
}

ArActionMeta *
ar_buffer_add_action_meta_continuous (GstBuffer *buffer, const gfloat *values, guint dim)
{
  ArActionMeta *meta;

  if (dim == 0 || dim > AR_ACTION_META_MAX_DIM)
    return NULL;
  meta = (ArActionMeta *) gst_buffer_add_meta (buffer, ar_action_meta_get_info (), NULL);
  meta->discrete = FALSE;
  meta->dim = dim;
  memcpy (meta->values, values, dim * sizeof (gfloat));
  return meta;
}

ArPredictionMeta *
ar_buffer_add_prediction_meta (GstBuffer *buffer, GstClockTime source_pts, guint64 source_offset,
    guint step, gboolean dreamed)
{
  ArPredictionMeta *meta =
      (ArPredictionMeta *) gst_buffer_add_meta (buffer, ar_prediction_meta_get_info (), NULL);
  meta->source_pts = source_pts;
  meta->source_offset = source_offset;
  meta->step = step;
  meta->dreamed = dreamed;
  return meta;
}
