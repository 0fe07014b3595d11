#include "test-ops.h"

/* Placeholder until the embed ops land: reports a failure so that it cannot pass unnoticed. */
void
test_embed (ArTest *t)
{
  art_report_cond (t, "embed", "-", AR_F32, FALSE, "not implemented");
}
