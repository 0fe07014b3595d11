// Workgroup reductions for one-workgroup-per-row ops. Include after the local size and
// before use. Every invocation gets the result. Each `slot` has its own shared storage, so
// an op that reduces once per slot needs no barrier to protect reuse.
// With AR_SUBGROUP (the .comp enables GL_KHR_shader_subgroup_arithmetic): subgroup reduce,
// one barrier, then every invocation sums the per-subgroup partials (no tree, as barriers are
// costly on lavapipe). Without: a shared-memory tree (local size must be a power of two).
#define AR_RED_SLOTS 2
shared float ar_red[AR_RED_SLOTS * gl_WorkGroupSize.x];

#ifdef AR_SUBGROUP
float ar_wg_sum(float v, uint slot)
{
    v = subgroupAdd(v);
    uint base = slot * gl_WorkGroupSize.x;
    if (subgroupElect())
        ar_red[base + gl_SubgroupID] = v;
    memoryBarrierShared();
    barrier();
    float s = 0.0;
    for (uint i = 0; i < gl_NumSubgroups; i++)
        s += ar_red[base + i];
    return s;
}

float ar_wg_max(float v, uint slot)
{
    v = subgroupMax(v);
    uint base = slot * gl_WorkGroupSize.x;
    if (subgroupElect())
        ar_red[base + gl_SubgroupID] = v;
    memoryBarrierShared();
    barrier();
    float m = ar_red[base];
    for (uint i = 1; i < gl_NumSubgroups; i++)
        m = max(m, ar_red[base + i]);
    return m;
}
#else
#define AR_TREE_REDUCE(OP)                                                  \
    uint base = slot * gl_WorkGroupSize.x;                                  \
    uint lid = gl_LocalInvocationID.x;                                      \
    ar_red[base + lid] = v;                                                 \
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {                 \
        memoryBarrierShared();                                              \
        barrier();                                                          \
        if (lid < s)                                                        \
            ar_red[base + lid] = OP(ar_red[base + lid], ar_red[base + lid + s]); \
    }                                                                       \
    memoryBarrierShared();                                                  \
    barrier();                                                              \
    return ar_red[base];

float ar_add_(float a, float b) { return a + b; }

float ar_wg_sum(float v, uint slot) { AR_TREE_REDUCE(ar_add_) }
float ar_wg_max(float v, uint slot) { AR_TREE_REDUCE(max) }
#endif
