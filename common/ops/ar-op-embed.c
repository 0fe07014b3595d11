#include "ar-ops.h"

#define EMBED_LOCAL 256

/* Mirrors the push constants of shaders/embed.comp. */
typedef struct {
  guint32 n;
  guint32 dim;
  guint32 vocab;
  guint32 ids_offset;
  guint32 accumulate;
} EmbedPush;
G_STATIC_ASSERT (sizeof (EmbedPush) == 20);

static void
record_embed (ArCmd *cmd, ArDType dt, const ArBuffer *table, const ArBuffer *ids,
    guint32 ids_offset, ArBuffer *out, guint32 n_ids, guint32 vocab, guint32 dim,
    gboolean accumulate)
{
  gsize es = ar_dtype_size (dt);
  guint64 n = (guint64) n_ids * dim;
  if (!ar_op_check_dtype (cmd, "embed", dt))
    return;
  if (vocab == 0) {
    ar_cmd_fail_invalid (cmd, "embed: empty table (vocab 0)");
    return;
  }
  if (n > G_MAXUINT32 || (guint64) vocab * dim > G_MAXUINT32) {
    ar_cmd_fail_invalid (cmd, "embed: [%u, %u] table or %u ids exceed the 32-bit index range",
        vocab, dim, n_ids);
    return;
  }
  if (!ar_op_check_size (cmd, "embed", "table", table, (guint64) vocab * dim, es)
      || !ar_op_check_size (cmd, "embed", "ids", ids, (guint64) ids_offset + n_ids, 4)
      || !ar_op_check_size (cmd, "embed", "out", out, n, es))
    return;
  if (n == 0)
    return;
  EmbedPush pc = { (guint32) n, dim, vocab, ids_offset, accumulate };
  guint32 spec[] = { EMBED_LOCAL }, gx, gy;
  ar_cmd_groups_1d (cmd, ar_div_up (n, EMBED_LOCAL), &gx, &gy);
  ArBinding bind[] = { AR_READ (table), AR_READ (ids), AR_WRITE (out) };
  ar_cmd_dispatch (cmd, AR_SHADER (embed, dt), spec, 1, bind, 3, &pc, sizeof pc, gx, gy, 1);
}

void
ar_op_embed (ArCmd *cmd, ArDType dt, const ArBuffer *table, const ArBuffer *ids,
    guint32 ids_offset, ArBuffer *out, guint32 n_ids, guint32 vocab, guint32 dim)
{
  record_embed (cmd, dt, table, ids, ids_offset, out, n_ids, vocab, dim, FALSE);
}

void
ar_op_embed_add (ArCmd *cmd, ArDType dt, const ArBuffer *table, const ArBuffer *ids,
    guint32 ids_offset, ArBuffer *out, guint32 n_ids, guint32 vocab, guint32 dim)
{
  record_embed (cmd, dt, table, ids, ids_offset, out, n_ids, vocab, dim, TRUE);
}
