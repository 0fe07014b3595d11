#include "ar-ops.h"

gboolean
ar_op_check_size (ArCmd *cmd, const char *op, const char *what, const ArBuffer *buf, guint64 n,
    gsize elem_size)
{
  if (!buf) {
    ar_cmd_fail_invalid (cmd, "%s: %s is missing", op, what);
    return FALSE;
  }
  if (n * elem_size > buf->size) {
    ar_cmd_fail_invalid (cmd, "%s: %s needs %" G_GUINT64_FORMAT " elements (%" G_GUINT64_FORMAT
        " bytes) but its buffer holds %" G_GUINT64_FORMAT " bytes", op, what, n,
        n * elem_size, (guint64) buf->size);
    return FALSE;
  }
  return TRUE;
}

gboolean
ar_op_check_dtype (ArCmd *cmd, const char *op, ArDType dt)
{
  if (dt == AR_F16 && !ar_cmd_device (cmd)->caps.fp16_storage) {
    ar_cmd_fail_invalid (cmd, "%s: fp16 storage is not supported by this device", op);
    return FALSE;
  }
  return TRUE;
}

gboolean
ar_op_check_coopmat (ArCmd *cmd, const char *op, ArDType dt)
{
  if (dt != AR_F16 || !ar_cmd_device (cmd)->caps.coopmat_nv) {
    ar_cmd_fail_invalid (cmd, "%s: cooperative matrices need fp16 storage and a device with "
        "VK_NV_cooperative_matrix (16x16x16 fp16, subgroups of 32)", op);
    return FALSE;
  }
  return TRUE;
}
