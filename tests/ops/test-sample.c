#include "test-ops.h"

/* Placeholder until the sample ops land: reports a failure so that it cannot pass unnoticed. */
void
test_sample (ArTest *t)
{
  art_report_cond (t, "sample", "-", AR_F32, FALSE, "not implemented");
}
