/* Device memory: large blocks, sub-allocated into buffers (one VkBuffer per block). */
#pragma once
#include "ar-device.h"

G_BEGIN_DECLS

typedef enum {
  AR_MEM_DEVICE,  /* device-local: weights, activations */
  AR_MEM_HOST,    /* host-visible and coherent: staging, readback */
} ArMemKind;

typedef struct _ArBlock ArBlock;

/* A sub-allocation. Bind it with (vk_buffer, offset, size). */
typedef struct _ArBuffer {
  ArDevice *dev;
  ArBlock *block;
  VkBuffer vk_buffer;
  VkDeviceSize offset;
  VkDeviceSize size;
  guint8 *mapped;      /* host pointer when the memory is host-visible, else NULL */
  /* Uniform texel buffer views of the whole buffer as vec4s (fp32, fp16), made on first use
   * by ar_buffer_texel_view() and destroyed with the buffer. */
  VkBufferView texel_view[2];
} ArBuffer;

ArAllocator *ar_allocator_new (ArDevice *dev);
void ar_allocator_free (ArAllocator *alloc);

/* Allocates @size bytes (> 0, at most maxStorageBufferRange). */
ArBuffer *ar_buffer_new (ArDevice *dev, gsize size, ArMemKind kind, GError **error);

/* The buffer seen as a uniform texel buffer of vec4 texels (R32G32B32A32_SFLOAT, or
 * R16G16B16A16_SFLOAT when @f16), whole texels only; created once and cached on the buffer
 * (hence the cast-away const: a cache, not a change of contents). */
VkBufferView ar_buffer_texel_view (const ArBuffer *buf, gboolean f16, GError **error);

/* Whether ar_buffer_texel_view() can view @buf (NULL: FALSE): its offset is aligned for texel
 * views and its texel count within the device's limit. */
gboolean ar_buffer_texel_viewable (const ArBuffer *buf, gboolean f16);
/* A buffer for bytes @offset..@offset+@size of @parent (same VkBuffer, no memory of its own):
 * ops bind it like any buffer. It must be freed before @parent. */
ArBuffer *ar_buffer_view_new (ArBuffer *parent, gsize offset, gsize size, GError **error);
void ar_buffer_free (ArBuffer *buf);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArBuffer, ar_buffer_free)

/* Copies host data in or out, through a staging buffer when the memory is not mappable.
 * The caller makes sure no GPU work is using the range. */
gboolean ar_buffer_write (ArBuffer *buf, gsize offset, const void *data, gsize size, GError **error);
gboolean ar_buffer_read (ArBuffer *buf, gsize offset, void *data, gsize size, GError **error);

/* Bytes of device memory currently allocated in blocks, and the peak. */
void ar_device_memory_usage (ArDevice *dev, guint64 *current, guint64 *peak);
/* Bytes of device-local memory in live buffers (padded sizes), and their high-water mark:
 * what a model actually uses, without the block granularity. */
void ar_device_memory_buffers (ArDevice *dev, guint64 *current, guint64 *peak);

G_END_DECLS
