#include "ar-ops.h"

#define ELTWISE_LOCAL 256

/* Mirrors the push constants of shaders/add.comp. */
typedef struct {
  guint32 n;
} AddPush;
G_STATIC_ASSERT (sizeof (AddPush) == 4);

void
ar_op_add (ArCmd *cmd, ArDType dt, const ArBuffer *a, const ArBuffer *b, ArBuffer *out, guint64 n)
{
  gsize es = ar_dtype_size (dt);
  if (!ar_op_check_dtype (cmd, "add", dt) || !ar_op_check_size (cmd, "add", "a", a, n, es)
      || !ar_op_check_size (cmd, "add", "b", b, n, es) || !ar_op_check_size (cmd, "add", "out", out, n, es))
    return;
  AddPush pc = { (guint32) n };
  guint32 spec[] = { ELTWISE_LOCAL }, gx, gy;
  ar_cmd_groups_1d (cmd, ar_div_up (n, ELTWISE_LOCAL), &gx, &gy);
  ArBinding bind[] = { AR_READ (a), AR_READ (b), AR_WRITE (out) };
  ar_cmd_dispatch (cmd, AR_SHADER (add, dt), spec, 1, bind, 3, &pc, sizeof pc, gx, gy, 1);
}
