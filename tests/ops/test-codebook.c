#include "test-ops.h"

/* Placeholder until the codebook ops land: reports a failure so that it cannot pass unnoticed. */
void
test_codebook (ArTest *t)
{
  art_report_cond (t, "codebook", "-", AR_F32, FALSE, "not implemented");
}
