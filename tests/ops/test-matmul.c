#include "test-ops.h"

/* Placeholder until the matmul ops land: reports a failure so that it cannot pass unnoticed. */
void
test_matmul (ArTest *t)
{
  art_report_cond (t, "matmul", "-", AR_F32, FALSE, "not implemented");
}
