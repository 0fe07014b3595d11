#include "test-ops.h"

/* Placeholder until the attention ops land: reports a failure so that it cannot pass unnoticed. */
void
test_attention (ArTest *t)
{
  art_report_cond (t, "attention", "-", AR_F32, FALSE, "not implemented");
}
