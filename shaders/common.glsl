// Shared definitions for every op shader.
//
// Storage type: each op is built with -DSTORAGE_F32 or -DSTORAGE_F16 (see shaders/meson.build).
// fp16 storage needs only storageBuffer16BitAccess: values are converted to fp32 on load and
// all arithmetic is fp32.
#if defined(STORAGE_F16)
#extension GL_EXT_shader_16bit_storage : require
#define STYPE float16_t
#define STYPE2 f16vec2
#define STYPE4 f16vec4
#elif defined(STORAGE_F32)
#define STYPE float
#define STYPE2 vec2
#define STYPE4 vec4
#endif

// Large 1-D grids are dispatched as 2-D (x is capped at 65535 groups by the spec minimum).
// The flat index of this invocation, given the local size along x.
uint ar_flat_index()
{
    return gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
}
