#include "test-ops.h"

/* Placeholder until the norm ops land: reports a failure so that it cannot pass unnoticed. */
void
test_norm (ArTest *t)
{
  art_report_cond (t, "norm", "-", AR_F32, FALSE, "not implemented");
}
