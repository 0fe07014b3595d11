#include "test-ops.h"

/* Placeholder until the rope ops land: reports a failure so that it cannot pass unnoticed. */
void
test_rope (ArTest *t)
{
  art_report_cond (t, "rope", "-", AR_F32, FALSE, "not implemented");
}
