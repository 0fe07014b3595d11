/* Episode recording (see ar-episode.h). */
#include "ar-episode.h"

#include "ar-safetensors.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

struct _ArEpisodeWriter {
  guint width, height, channels, action_dim;
  GByteArray *frames;
  GArray *actions;      /* float (continuous) or gint32 (discrete) */
  GArray *pts;          /* gint64 */
  GHashTable *metadata; /* char* -> char* */
};

ArEpisodeWriter *
ar_episode_writer_new (guint width, guint height, guint channels, guint action_dim)
{
  g_return_val_if_fail (width > 0 && height > 0 && (channels == 1 || channels == 3), NULL);
  ArEpisodeWriter *w = g_new0 (ArEpisodeWriter, 1);
  w->width = width;
  w->height = height;
  w->channels = channels;
  w->action_dim = action_dim;
  w->frames = g_byte_array_new ();
  w->actions = g_array_new (FALSE, FALSE, action_dim ? sizeof (float) : sizeof (gint32));
  w->pts = g_array_new (FALSE, FALSE, sizeof (gint64));
  w->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_hash_table_insert (w->metadata, g_strdup ("format"), g_strdup (AR_EPISODE_FORMAT));
  return w;
}

void
ar_episode_writer_free (ArEpisodeWriter *w)
{
  if (!w)
    return;
  g_byte_array_unref (w->frames);
  g_array_unref (w->actions);
  g_array_unref (w->pts);
  g_hash_table_unref (w->metadata);
  g_free (w);
}

void
ar_episode_writer_set_metadata (ArEpisodeWriter *w, const char *key, const char *value)
{
  g_hash_table_insert (w->metadata, g_strdup (key), g_strdup (value));
}

void
ar_episode_writer_add (ArEpisodeWriter *w, const guint8 *pixels, gsize stride,
    guint pixel_stride, const float *action, gint32 discrete_action, gint64 pts_ns)
{
  g_return_if_fail (pixel_stride >= w->channels);
  for (guint y = 0; y < w->height; y++) {
    const guint8 *row = pixels + (gsize) y * stride;
    if (pixel_stride == w->channels) {
      g_byte_array_append (w->frames, row, w->width * w->channels);
      continue;
    }
    for (guint x = 0; x < w->width; x++)
      g_byte_array_append (w->frames, row + (gsize) x * pixel_stride, w->channels);
  }
  if (w->action_dim) {
    for (guint i = 0; i < w->action_dim; i++) {
      float v = action ? action[i] : NAN;
      g_array_append_val (w->actions, v);
    }
  } else {
    g_array_append_val (w->actions, discrete_action);
  }
  g_array_append_val (w->pts, pts_ns);
}

guint
ar_episode_writer_n_frames (const ArEpisodeWriter *w)
{
  return w->pts->len;
}

gboolean
ar_episode_writer_save (ArEpisodeWriter *w, const char *path, GError **error)
{
  gint64 t = w->pts->len;
  ArStTensor tensors[3] = {
    { .name = "frames", .dtype = AR_ST_U8, .ndim = 4,
      .shape = { t, w->height, w->width, w->channels },
      .data = w->frames->data, .nbytes = w->frames->len },
    { .name = "actions", .dtype = w->action_dim ? AR_ST_F32 : AR_ST_I32,
      .ndim = w->action_dim ? 2 : 1, .shape = { t, w->action_dim },
      .data = w->actions->data,
      .nbytes = (gsize) w->actions->len * g_array_get_element_size (w->actions) },
    { .name = "pts", .dtype = AR_ST_I64, .ndim = 1, .shape = { t },
      .data = w->pts->data, .nbytes = (gsize) t * sizeof (gint64) },
  };
  /* Sorted keys, so that the same episode gives the same bytes. */
  GList *keys = g_list_sort (g_hash_table_get_keys (w->metadata), (GCompareFunc) g_strcmp0);
  GPtrArray *meta = g_ptr_array_new ();
  for (GList *k = keys; k; k = k->next) {
    g_ptr_array_add (meta, k->data);
    g_ptr_array_add (meta, g_hash_table_lookup (w->metadata, k->data));
  }
  g_ptr_array_add (meta, NULL);
  g_list_free (keys);

  g_autofree gchar *tmp = g_strdup_printf ("%s.tmp", path);
  gboolean ok = ar_safetensors_write (tmp, tensors, G_N_ELEMENTS (tensors),
      (const char *const *) meta->pdata, error);
  g_ptr_array_unref (meta);
  if (ok && g_rename (tmp, path) != 0) {
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
        "cannot write episode %s: %s", path, g_strerror (errno));
    ok = FALSE;
  }
  if (!ok)
    g_unlink (tmp);
  return ok;
}
