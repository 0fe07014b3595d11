/* Embedding lookup. */
#pragma once

G_BEGIN_DECLS

/* out[r, :] = table[ids[ids_offset + r], :] for r < n_ids, with @table [vocab, dim] and @ids a
 * buffer of uint32 token ids (so that a token produced on the GPU can be embedded without a
 * read-back; @ids_offset is in elements). An id >= @vocab is clamped to vocab - 1: nothing is
 * read out of bounds, and the caller is expected to pass valid ids. @out [n_ids, dim]. */
void ar_op_embed (ArCmd *cmd, ArDType dt, const ArBuffer *table, const ArBuffer *ids,
    guint32 ids_offset, ArBuffer *out, guint32 n_ids, guint32 vocab, guint32 dim);

/* The same, adding the rows to @out (out[r, :] += table[ids[ids_offset + r], :], in fp32 and
 * rounded once): a position or action embedding summed in without an add pass. */
void ar_op_embed_add (ArCmd *cmd, ArDType dt, const ArBuffer *table, const ArBuffer *ids,
    guint32 ids_offset, ArBuffer *out, guint32 n_ids, guint32 vocab, guint32 dim);

G_END_DECLS
