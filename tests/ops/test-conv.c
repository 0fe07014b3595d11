#include "test-ops.h"

/* Placeholder until the conv ops land: reports a failure so that it cannot pass unnoticed. */
void
test_conv (ArTest *t)
{
  art_report_cond (t, "conv", "-", AR_F32, FALSE, "not implemented");
}
