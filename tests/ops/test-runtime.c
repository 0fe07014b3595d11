#include "test-ops.h"

/* Placeholder: runtime tests (allocator, barriers, errors) are being written. */
void
test_runtime (ArTest *t)
{
  art_report_cond (t, "runtime", "-", AR_F32, FALSE, "not implemented");
}
