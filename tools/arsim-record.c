/* arsim-record: records simulator episodes (docs/recording.md) without a pipeline, for
 * training data: one file per seed, DIR/ep-SEED.safetensors.
 *
 *   arsim-record --out DIR [--episodes N] [--seed-start S] [--frames T] [--size WxH]
 *                [--policy random|scripted] [--distractors K] [--fps N]
 */
#include "ar-episode.h"
#include "ar-sim.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>

int
main (int argc, char **argv)
{
  g_autofree gchar *out_dir = NULL, *size = NULL, *policy_name = NULL;
  gint episodes = 1, frames = 64, distractors = 0, fps = 15;
  gint64 seed_start = 0;
  GOptionEntry entries[] = {
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out_dir, "Output directory", "DIR" },
    { "episodes", 'n', 0, G_OPTION_ARG_INT, &episodes, "Number of episodes (1)", "N" },
    { "seed-start", 's', 0, G_OPTION_ARG_INT64, &seed_start, "Seed of the first episode (0)",
      "S" },
    { "frames", 't', 0, G_OPTION_ARG_INT, &frames, "Frames per episode (64)", "T" },
    { "size", 0, 0, G_OPTION_ARG_STRING, &size, "Frame size (64x64)", "WxH" },
    { "policy", 'p', 0, G_OPTION_ARG_STRING, &policy_name, "random | scripted (random)",
      "NAME" },
    { "distractors", 0, 0, G_OPTION_ARG_INT, &distractors, "Distractor discs (0)", "K" },
    { "fps", 0, 0, G_OPTION_ARG_INT, &fps, "Frame rate recorded in timestamps (15)", "N" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- record simulator episodes");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    fprintf (stderr, "arsim-record: %s\n", error->message);
    return 2;
  }
  guint width = 64, height = 64;
  if (size && (sscanf (size, "%ux%u", &width, &height) != 2 || width < 8 || height < 8
          || width > 4096 || height > 4096)) {
    fprintf (stderr, "arsim-record: --size must be WxH between 8 and 4096, not \"%s\"\n", size);
    return 2;
  }
  ArSimPolicy policy = AR_SIM_POLICY_RANDOM;
  if (policy_name && !ar_sim_policy_from_name (policy_name, &policy)) {
    fprintf (stderr, "arsim-record: unknown policy \"%s\" (random or scripted)\n", policy_name);
    return 2;
  }
  if (!out_dir || episodes < 1 || frames < 1 || fps < 1 || distractors < 0
      || distractors > AR_SIM_MAX_DISTRACTORS) {
    fprintf (stderr, "arsim-record: need --out DIR, episodes/frames/fps >= 1 and "
        "distractors 0..%d\n", AR_SIM_MAX_DISTRACTORS);
    return 2;
  }
  if (g_mkdir_with_parents (out_dir, 0755) != 0) {
    fprintf (stderr, "arsim-record: cannot create %s: %s\n", out_dir, g_strerror (errno));
    return 1;
  }

  g_autofree guint8 *pixels = g_malloc ((gsize) width * height * 3);
  for (gint e = 0; e < episodes; e++) {
    guint64 seed = (guint64) seed_start + e;
    g_autoptr (ArSim) sim = ar_sim_new (seed, distractors);
    g_autoptr (ArEpisodeWriter) w = ar_episode_writer_new (width, height, 3, AR_SIM_ACTION_DIM);
    g_autofree gchar *seed_s = g_strdup_printf ("%" G_GUINT64_FORMAT, seed);
    g_autofree gchar *fps_s = g_strdup_printf ("%d/1", fps);
    g_autofree gchar *dis_s = g_strdup_printf ("%d", distractors);
    ar_episode_writer_set_metadata (w, "source", "arsim-record");
    ar_episode_writer_set_metadata (w, "seed", seed_s);
    ar_episode_writer_set_metadata (w, "fps", fps_s);
    ar_episode_writer_set_metadata (w, "policy", ar_sim_policy_name (policy));
    ar_episode_writer_set_metadata (w, "distractors", dis_s);
    for (gint t = 0; t < frames; t++) {
      float action[AR_SIM_ACTION_DIM];
      ar_sim_render (sim, pixels, width, height, (gsize) width * 3, 3, FALSE);
      ar_sim_policy_action (sim, policy, action);
      ar_episode_writer_add (w, pixels, (gsize) width * 3, 3, action, 0,
          (gint64) t * G_GINT64_CONSTANT (1000000000) / fps);
      ar_sim_step (sim, action);
    }
    g_autofree gchar *path = g_strdup_printf ("%s/ep-%06" G_GUINT64_FORMAT ".safetensors",
        out_dir, seed);
    if (!ar_episode_writer_save (w, path, &error)) {
      fprintf (stderr, "arsim-record: %s\n", error->message);
      return 1;
    }
  }
  printf ("arsim-record: %d episodes of %d frames (%ux%u, %s policy) in %s\n", episodes, frames,
      width, height, ar_sim_policy_name (policy), out_dir);
  return 0;
}
