#include "ar-ops.h"
#include <stdio.h>

#define ARGMIN_LOCAL 64
#define ARGMIN_LOCAL_CPU 32
#define ARGMIN_CODES 4          /* codes per thread at once: register blocking */
#define ARGMIN_VECTORS 4        /* vectors per workgroup: each code row read serves all */
/* The wide shape (GPUs): 256 threads of 2 codes each, one vector per workgroup. The narrow
 * one used 4 workgroups for iris-small's 16 vectors. H200: 198 -> 143 us per encode, encode
 * 1.30-1.32 -> 1.25-1.28 ms (alternating runs); `large` (256 vectors) unchanged. Still
 * latency-bound: each thread walks its own code rows, so a warp's loads do not coalesce (a
 * transposed copy of the codebook would). AR_ARGMIN_WIDE=local,vectors,codes overrides the
 * shape, for sweeps on a device. */
#define ARGMIN_WIDE_LOCAL 256
#define ARGMIN_WIDE_VECTORS 1
#define ARGMIN_WIDE_CODES 2
/* The texel kernel (CPU devices): 8 codes per lane, 8 vectors per workgroup (4 where hw is
 * no multiple of 8). */
#define ARGMIN_TEXEL_LOCAL 32
#define ARGMIN_TEXEL_CODES 8
#define LOOKUP_LOCAL 256

/* Mirrors the push constants of shaders/codebook_{argmin,lookup}.comp. */
typedef struct {
  guint32 n, dim, codebook_size, hw;
} CodebookPush;
G_STATIC_ASSERT (sizeof (CodebookPush) == 16);

static gboolean
check_common (ArCmd *cmd, const char *op, ArDType dt, const ArBuffer *codebook, guint n,
    guint dim, guint codebook_size, guint hw)
{
  if (!ar_op_check_dtype (cmd, op, dt))
    return FALSE;
  if (dim == 0 || codebook_size == 0 || (hw && n % hw)) {
    ar_cmd_fail_invalid (cmd, "%s: bad shape: dim %u, codebook_size %u, n %u, hw %u", op, dim,
        codebook_size, n, hw);
    return FALSE;
  }
  return ar_op_check_size (cmd, op, "codebook", codebook, (guint64) codebook_size * dim,
      ar_dtype_size (dt));
}

void
ar_op_codebook_argmin (ArCmd *cmd, ArDType dt, const ArBuffer *x, const ArBuffer *codebook,
    ArBuffer *tokens, guint n, guint dim, guint codebook_size, guint hw)
{
  ar_op_codebook_argmin_path (cmd, dt, x, codebook, tokens, n, dim, codebook_size, hw,
      AR_CODEBOOK_AUTO);
}

void
ar_op_codebook_argmin_path (ArCmd *cmd, ArDType dt, const ArBuffer *x,
    const ArBuffer *codebook, ArBuffer *tokens, guint n, guint dim, guint codebook_size,
    guint hw, ArCodebookPath path)
{
  const char *op = "codebook_argmin";
  if (!check_common (cmd, op, dt, codebook, n, dim, codebook_size, hw)
      || !ar_op_check_size (cmd, op, "x", x, (guint64) n * dim, ar_dtype_size (dt))
      || !ar_op_check_size (cmd, op, "tokens", tokens, n, 4))
    return;
  gboolean texel_ok = hw > 0 && hw % 4 == 0 && dim % 4 == 0
      && ar_buffer_texel_viewable (x, dt == AR_F16)
      && ar_buffer_texel_viewable (codebook, dt == AR_F16);
  if (path == AR_CODEBOOK_TEXEL && !texel_ok) {
    ar_cmd_fail_invalid (cmd, "%s: the texel kernel needs channel-major vectors with hw and dim "
        "multiples of 4 (hw %u, dim %u) and buffers viewable as texel buffers", op, hw, dim);
    return;
  }
  if (path == AR_CODEBOOK_TEXEL
      || (path == AR_CODEBOOK_AUTO && texel_ok && ar_cmd_device (cmd)->caps.is_cpu)) {
    if (n == 0)
      return;
    /* A workgroup's vectors are one texel of x per dim and texel column: never two images. */
    guint xv = hw % 8 == 0 ? 2 : 1;
    CodebookPush pc = { n, dim, codebook_size, hw };
    guint32 spec[] = { ARGMIN_TEXEL_LOCAL, 4 * xv, 4, ARGMIN_TEXEL_CODES, xv }, gx, gy;
    ar_cmd_groups_1d (cmd, n / (4 * xv), &gx, &gy);
    ArBinding bind[AR_TEXEL_BINDING + 2] = { [2] = AR_WRITE (tokens),
      [AR_TEXEL_BINDING] = AR_TEXEL (x, dt), [AR_TEXEL_BINDING + 1] = AR_TEXEL (codebook, dt) };
    ar_cmd_dispatch (cmd, AR_SHADER (codebook_argmin_texel, dt), spec, G_N_ELEMENTS (spec),
        bind, G_N_ELEMENTS (bind), &pc, sizeof pc, gx, gy, 1);
    return;
  }
  gboolean cpu = ar_cmd_device (cmd)->caps.is_cpu;
  gboolean wide = path == AR_CODEBOOK_SHARED_WIDE || (path == AR_CODEBOOK_AUTO && !cpu);
  /* The staged vectors live in shared memory: fewer per workgroup for long vectors. */
  guint vpw = wide ? ARGMIN_WIDE_VECTORS : ARGMIN_VECTORS;
  guint codes = wide ? ARGMIN_WIDE_CODES : ARGMIN_CODES;
  /* Fewer threads on CPUs: more workgroups per lane of work (measured on lavapipe). */
  guint local = wide ? ARGMIN_WIDE_LOCAL : cpu ? ARGMIN_LOCAL_CPU : ARGMIN_LOCAL;
  if (wide) {
    guint l, v, c;
    const char *env = g_getenv ("AR_ARGMIN_WIDE");
    if (env && sscanf (env, "%u,%u,%u", &l, &v, &c) == 3 && l >= 1 && l <= 1024 && v >= 1
        && v <= 16 && c >= 1 && c <= 16) {
      local = l;
      vpw = v;
      codes = c;
    }
  }
  while (vpw > 1 && (guint64) vpw * dim * 4 > 16384)
    vpw /= 2;
  guint64 xmax = (guint64) vpw * dim;
  guint64 shared = (xmax + 2 * vpw * local) * 4;
  if (shared > ar_cmd_device (cmd)->props.limits.maxComputeSharedMemorySize) {
    ar_cmd_fail_invalid (cmd, "%s: dim %u needs %" G_GUINT64_FORMAT " bytes of shared memory",
        op, dim, shared);
    return;
  }
  if (n == 0)
    return;
  CodebookPush pc = { n, dim, codebook_size, hw };
  guint32 spec[] = { local, vpw, (guint32) xmax, codes }, gx, gy;
  ar_cmd_groups_1d (cmd, ar_div_up (n, vpw), &gx, &gy);
  ArBinding bind[] = { AR_READ (x), AR_READ (codebook), AR_WRITE (tokens) };
  ar_cmd_dispatch (cmd, AR_SHADER (codebook_argmin, dt), spec, 4, bind, 3, &pc, sizeof pc, gx,
      gy, 1);
}

void
ar_op_codebook_lookup (ArCmd *cmd, ArDType dt, const ArBuffer *tokens,
    const ArBuffer *codebook, ArBuffer *out, guint n, guint dim, guint codebook_size, guint hw)
{
  const char *op = "codebook_lookup";
  if (!check_common (cmd, op, dt, codebook, n, dim, codebook_size, hw)
      || !ar_op_check_size (cmd, op, "tokens", tokens, n, 4)
      || !ar_op_check_size (cmd, op, "out", out, (guint64) n * dim, ar_dtype_size (dt)))
    return;
  if (n == 0)
    return;
  CodebookPush pc = { n, dim, codebook_size, hw };
  guint32 spec[] = { LOOKUP_LOCAL }, gx, gy;
  ar_cmd_groups_1d (cmd, ar_div_up ((guint64) n * dim, LOOKUP_LOCAL), &gx, &gy);
  ArBinding bind[] = { AR_READ (tokens), AR_READ (codebook), AR_WRITE (out) };
  ar_cmd_dispatch (cmd, AR_SHADER (codebook_lookup, dt), spec, 1, bind, 3, &pc, sizeof pc, gx,
      gy, 1);
}
