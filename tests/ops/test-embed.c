#include "test-ops.h"

#include <string.h>

/* @n_bad of the ids are out of range (they must be clamped to the last row). @add: through
 * ar_op_embed_add onto random rows. */
static void
check_embed (ArTest *t, ArDType dt, guint32 vocab, guint32 dim, guint32 n_ids, guint32 offset,
    guint32 n_bad, gboolean add)
{
  gsize n_table = (gsize) vocab * dim, n = (gsize) n_ids * dim;
  g_autofree float *table = art_random (t, n_table, -1, 1, dt);
  g_autofree guint32 *ids = g_new (guint32, offset + n_ids + 1);
  for (guint32 i = 0; i < offset + n_ids + 1; i++)
    ids[i] = art_rand_u32 (t) % vocab;
  for (guint32 i = 0; i < n_bad && i < n_ids; i++)
    ids[offset + i * 2 % n_ids] = i == 0 ? G_MAXUINT32 : vocab + i;
  g_autofree float *ref = g_new (float, MAX (n, 1));
  ref_embed (table, ids + offset, ref, n_ids, vocab, dim);
  g_autofree float *base = art_random (t, MAX (n, 1), -1, 1, dt);
  if (add) {
    for (gsize i = 0; i < n; i++)
      ref[i] += base[i];
    art_round (ref, n, dt);
  }
  g_autoptr (ArBuffer) bt = art_upload (t, dt, table, n_table);
  g_autoptr (ArBuffer) bi = art_upload_u32 (t, ids, offset + n_ids + 1);
  g_autoptr (ArBuffer) bo = add ? art_upload (t, dt, base, MAX (n, 1)) : art_alloc (t, dt, n);
  art_begin (t);
  if (add)
    ar_op_embed_add (t->cmd, dt, bt, bi, offset, bo, n_ids, vocab, dim);
  else
    ar_op_embed (t->cmd, dt, bt, bi, offset, bo, n_ids, vocab, dim);
  if (!art_run (t))
    return;
  g_autofree float *o = art_download (t, dt, bo, n);
  g_autofree gchar *shape = g_strdup_printf ("[%u,%u]x%u@%u%s", vocab, dim, n_ids, offset,
      n_bad ? "(out-of-range ids)" : "");
  /* A copy, or one rounded fp32 add: exact. */
  art_report (t, add ? "embed_add" : "embed", shape, dt, art_nmse (o, ref, n), 0);
}

void
test_embed (ArTest *t)
{
  ArDType dts[2];
  guint ndt = art_dtypes (t, dts);
  for (guint d = 0; d < ndt; d++) {
    ArDType dt = dts[d];
    for (int add = 0; add < 2; add++) {
      check_embed (t, dt, 1, 1, 1, 0, 0, add);
      check_embed (t, dt, 50, 7, 13, 3, 0, add);
      check_embed (t, dt, 50, 7, 13, 0, 3, add);
      check_embed (t, dt, 16384, 512, 9, 1, 0, add);
      check_embed (t, dt, 1031, 1024, 257, 0, 2, add);
    }
  }

  g_autoptr (ArBuffer) bt = art_alloc (t, AR_F32, 50 * 7);
  guint32 ids[4] = { 0 };
  g_autoptr (ArBuffer) bi = art_upload_u32 (t, ids, 4);
  g_autoptr (ArBuffer) bo = art_alloc (t, AR_F32, 4 * 7);
  GError *err = NULL;
  art_begin (t);
  ar_op_embed (t->cmd, AR_F32, bt, bi, 2, bo, 4, 50, 7);
  gboolean ok = !ar_cmd_run (t->cmd, &err) && strstr (err->message, "ids needs 6 elements");
  art_report_cond (t, "embed", "4 ids at 2 of 4", AR_F32, ok, "ids past the buffer: %s",
      err ? err->message : "(no error)");
  g_clear_error (&err);
}
