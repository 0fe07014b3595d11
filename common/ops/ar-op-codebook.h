/* Vector quantisation against a codebook E [K, dim] (row j is code j).
 *
 * Vectors are either rows [n, dim] (hw == 0), or channel-major images [n / hw, dim, hw]
 * (hw > 0: NCHW latents with hw = H*W; vector i is pixel i % hw of image i / hw). */
#pragma once

G_BEGIN_DECLS

/* tokens[i] = argmin_j sum_c (x_i[c] - E[j][c])^2 as uint32, ties to the lower j.
 * Distances are summed in fp32 over c = 0..dim-1 in order. @hw must divide @n. */
void ar_op_codebook_argmin (ArCmd *cmd, ArDType dt, const ArBuffer *x, const ArBuffer *codebook,
    ArBuffer *tokens, guint n, guint dim, guint codebook_size, guint hw);

/* Which kernel computes it (all sum the same terms in the same order). AUTO takes the texel
 * kernel on CPU devices where it applies, the shared-memory kernel otherwise: on GPUs in its
 * wide shape. */
typedef enum {
  AR_CODEBOOK_AUTO = 0,
  AR_CODEBOOK_SHARED,   /* vectors staged in shared memory, storage-buffer loads */
  AR_CODEBOOK_TEXEL,    /* x and E read as vec4 texels: channel-major vectors (hw > 0) with hw
                         * and dim multiples of 4, texel-viewable buffers; else an error */
  AR_CODEBOOK_SHARED_WIDE,   /* the shared-memory kernel with one vector per workgroup and
                              * 256 threads of 2 codes each: 16 times the workgroups, for
                              * GPUs, where few vectors (iris-small's 16) left most of the
                              * device idle */
} ArCodebookPath;

void ar_op_codebook_argmin_path (ArCmd *cmd, ArDType dt, const ArBuffer *x,
    const ArBuffer *codebook, ArBuffer *tokens, guint n, guint dim, guint codebook_size,
    guint hw, ArCodebookPath path);

/* The inverse: out = E[tokens[i]] for each of @n uint32 tokens, written as rows [n, dim]
 * (hw == 0) or channel-major [n / hw, dim, hw]. Tokens >= codebook_size are clamped to the
 * last code. */
void ar_op_codebook_lookup (ArCmd *cmd, ArDType dt, const ArBuffer *tokens,
    const ArBuffer *codebook, ArBuffer *out, guint n, guint dim, guint codebook_size, guint hw);

G_END_DECLS
