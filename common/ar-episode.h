/* Recorded episodes: frames, the action taken at each frame and timestamps, in one safetensors
 * file (format "arvideo-episode/1", documented in docs/recording.md):
 *
 *   frames   U8  [T, H, W, C]   C = 3 (RGB) or 1 (gray), rows top to bottom
 *   actions  F32 [T, A]         continuous: the action taken at frame t (produces frame t+1)
 *            I32 [T]            discrete: the action index (-1: none known)
 *   pts      I64 [T]            presentation time in nanoseconds (-1: none)
 *   __metadata__: format, fps ("15/1"), source, and free-form keys (seed, policy, ...)
 *
 * The writer keeps the frames in memory and writes the file at the end. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

#define AR_EPISODE_FORMAT "arvideo-episode/1"

typedef struct _ArEpisodeWriter ArEpisodeWriter;

/* @action_dim 0 records discrete actions (I32), otherwise continuous vectors of that size. */
ArEpisodeWriter *ar_episode_writer_new (guint width, guint height, guint channels,
    guint action_dim);
void ar_episode_writer_free (ArEpisodeWriter *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArEpisodeWriter, ar_episode_writer_free)

/* Sets a metadata string (replacing an earlier value of @key). */
void ar_episode_writer_set_metadata (ArEpisodeWriter *w, const char *key, const char *value);

/* Appends a frame of width x height x channels bytes (@stride bytes per row, @pixel_stride
 * bytes per pixel, whose first `channels` bytes are taken). @action: action_dim floats, or NULL
 * for "unknown" (continuous: NaN values). @discrete_action is used when action_dim is 0 (-1 for
 * unknown). @pts_ns: -1 for none. */
void ar_episode_writer_add (ArEpisodeWriter *w, const guint8 *pixels, gsize stride,
    guint pixel_stride, const float *action, gint32 discrete_action, gint64 pts_ns);

guint ar_episode_writer_n_frames (const ArEpisodeWriter *w);

/* Writes the file (atomically: a temporary file renamed into place). */
gboolean ar_episode_writer_save (ArEpisodeWriter *w, const char *path, GError **error);

G_END_DECLS
