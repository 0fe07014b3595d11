/* Compute pipelines: one per (shader, specialization constants), created once and cached.
 * Every pipeline shares one layout: AR_MAX_BINDINGS storage buffers at bindings 0..N-1 of
 * set 0, then AR_MAX_TEXEL_BINDINGS uniform texel buffers (vec4 texels) at bindings
 * AR_TEXEL_BINDING.., and AR_MAX_PUSH bytes of push constants. Specialization constant i has
 * constant_id i; by convention constant 0 is the local size along x. */
#pragma once
#include "ar-device.h"
#include "ar-shader.h"

G_BEGIN_DECLS

#define AR_MAX_BINDINGS 8
#define AR_TEXEL_BINDING AR_MAX_BINDINGS
#define AR_MAX_TEXEL_BINDINGS 4
#define AR_MAX_PUSH 128
#define AR_MAX_SPEC 16

typedef struct {
  VkPipeline pipeline;
  const ArShader *shader;
  gchar *label;          /* shader name and specialization, for profiles */
} ArPipeline;

ArPipelineCache *ar_pipeline_cache_new (ArDevice *dev, GError **error);
void ar_pipeline_cache_free (ArPipelineCache *cache);

VkDescriptorSetLayout ar_pipeline_cache_set_layout (ArPipelineCache *cache);
VkPipelineLayout ar_pipeline_cache_layout (ArPipelineCache *cache);

/* Returns the cached pipeline (owned by the cache), creating it on first use. */
const ArPipeline *ar_pipeline_get (ArDevice *dev, const ArShader *shader, const guint32 *spec,
    guint n_spec, GError **error);

G_END_DECLS
