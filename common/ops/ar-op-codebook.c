#include "ar-ops.h"

#define ARGMIN_LOCAL 64
#define ARGMIN_LOCAL_CPU 32
#define ARGMIN_CODES 4          /* codes per thread at once: register blocking */
#define ARGMIN_VECTORS 4        /* vectors per workgroup: each code row read serves all */
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
  const char *op = "codebook_argmin";
  if (!check_common (cmd, op, dt, codebook, n, dim, codebook_size, hw)
      || !ar_op_check_size (cmd, op, "x", x, (guint64) n * dim, ar_dtype_size (dt))
      || !ar_op_check_size (cmd, op, "tokens", tokens, n, 4))
    return;
  /* The staged vectors live in shared memory: fewer per workgroup for long vectors. */
  guint vpw = ARGMIN_VECTORS;
  /* Fewer threads on CPUs: more workgroups per lane of work (measured on lavapipe). */
  guint local = ar_cmd_device (cmd)->caps.is_cpu ? ARGMIN_LOCAL_CPU : ARGMIN_LOCAL;
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
  guint32 spec[] = { local, vpw, (guint32) xmax, ARGMIN_CODES }, gx, gy;
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
