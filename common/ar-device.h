/* The Vulkan instance and device: selection, features, validation, queue. */
#pragma once
#include <glib.h>
#include <vulkan/vulkan.h>

G_BEGIN_DECLS

#define AR_ERROR (ar_error_quark ())
GQuark ar_error_quark (void);

typedef enum {
  AR_ERROR_NO_DEVICE,      /* no loader, no device, or none matching AR_VULKAN_DEVICE */
  AR_ERROR_VULKAN,         /* a Vulkan call failed */
  AR_ERROR_OUT_OF_MEMORY,  /* an allocation failed or exceeds a device limit */
  AR_ERROR_INVALID,        /* bad arguments: shapes, sizes */
  AR_ERROR_MODEL,          /* malformed model card or weights */
} ArErrorCode;

/* What the device can do, as granted at creation. */
typedef struct {
  gboolean fp16_storage;      /* storageBuffer16BitAccess: fp16 tensors in buffers */
  gboolean fp16_arith;        /* shaderFloat16 */
  gboolean subgroup_arith;    /* subgroupAdd & co. in compute shaders */
  guint32 subgroup_size;
  gboolean subgroup_ballot;   /* subgroupBroadcast & co. in compute shaders */
  gboolean subgroup_shuffle;  /* subgroupShuffleXor & co. in compute shaders */
  gboolean timestamps;        /* the compute queue has timestamp queries */
  gboolean is_cpu;            /* a software device such as lavapipe (not with AR_VULKAN_AS_GPU=1,
                               * tests: the GPU kernel choices on it) */
  guint32 multiprocessors;    /* streaming multiprocessors (NVIDIA), 0 where not known */
  gboolean int64_atomics;     /* shaderInt64 and shaderBufferInt64Atomics (the folded step) */
  /* VK_NV_cooperative_matrix with 16x16x16 fp16 x fp16 -> fp32 subgroup products, subgroups
   * of 32 and the Vulkan memory model (the SPIR-V of such shaders uses it). Off with
   * AR_VULKAN_NO_COOPMAT=1. */
  gboolean coopmat_nv;
  /* VK_KHR_shader_clock's shaderDeviceClock: a clock all workgroups share (the fused step's
   * trace, ar_op_decode_step_traced()). */
  gboolean device_clock;
} ArDeviceCaps;

typedef struct _ArDevice ArDevice;
typedef struct _ArPipelineCache ArPipelineCache;
typedef struct _ArAllocator ArAllocator;

struct _ArDevice {
  gint refcount;
  VkInstance instance;
  VkPhysicalDevice physical;
  VkDevice device;
  VkQueue queue;
  guint32 queue_family;
  VkPhysicalDeviceProperties props;
  VkPhysicalDeviceMemoryProperties mem_props;
  ArDeviceCaps caps;
  gboolean profile;                /* AR_VULKAN_PROFILE=1 */
  /* AR_VULKAN_AVOID=name,name: kernels that AUTO paths must not pick on this device (for A/B
   * benchmarks of a new kernel against the one it replaced; see ar_device_avoids). */
  gchar **avoid;
  /* AR_VULKAN_SKIP=shader,shader: dispatches of these shaders (names as in the profile, e.g.
   * norm_texel_f32) are dropped, results be damned: what a kernel costs in place, where the
   * profile's per-dispatch timestamps inflate small dispatches. */
  gchar **skip;

  VkDebugUtilsMessengerEXT messenger;
  gint validation_messages;        /* atomic */

  GMutex queue_lock;               /* vkQueueSubmit and the transfer helper */
  VkCommandPool transfer_pool;     /* guarded by queue_lock */

  ArPipelineCache *pipelines;
  ArAllocator *allocator;
  struct _ArBuffer *dummy;         /* bound where an optional tensor is absent */
};

/* Creates a device. Honours AR_VULKAN_DEVICE (index or name substring) and
 * AR_VULKAN_VALIDATE=1 (Khronos validation layer; every message is printed and counted). */
ArDevice *ar_device_new (GError **error);

/* The process-wide shared device, created on first use. */
ArDevice *ar_device_get_default (GError **error);

ArDevice *ar_device_ref (ArDevice *dev);
void ar_device_unref (ArDevice *dev);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArDevice, ar_device_unref)

/* Whether AR_VULKAN_AVOID names @kernel (e.g. "matvec_rows"): AUTO then takes the kernel
 * it would have taken without it. */
gboolean ar_device_avoids (const ArDevice *dev, const char *kernel);

/* Number of validation messages (warnings and errors) seen so far. */
guint ar_device_validation_messages (ArDevice *dev);

/* A one-line description: name, type, and granted features. */
gchar *ar_device_describe (ArDevice *dev);

/* Fills @error from a failed Vulkan call; returns FALSE for convenience. */
gboolean ar_vk_check (VkResult res, const char *what, GError **error);

G_END_DECLS
