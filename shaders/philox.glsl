// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011):
// a counter-based generator, so any (key, counter) gives its four words directly, with no
// state to carry between dispatches. tests/ref/ref-sample.c has the same function in C,
// checked against the published known-answer vectors and against this one bit for bit.
#ifndef AR_PHILOX_GLSL
#define AR_PHILOX_GLSL

const uint PHILOX_M0 = 0xD2511F53u;
const uint PHILOX_M1 = 0xCD9E8D57u;
const uint PHILOX_W0 = 0x9E3779B9u;   // key schedule: golden ratio
const uint PHILOX_W1 = 0xBB67AE85u;   // and sqrt(3) - 1

uvec4 philox4x32_10(uvec4 ctr, uvec2 key)
{
    for (int round = 0; round < 10; round++) {
        if (round > 0)
            key += uvec2(PHILOX_W0, PHILOX_W1);
        uint hi0, lo0, hi1, lo1;
        umulExtended(PHILOX_M0, ctr.x, hi0, lo0);
        umulExtended(PHILOX_M1, ctr.z, hi1, lo1);
        ctr = uvec4(hi1 ^ ctr.y ^ key.x, lo1, hi0 ^ ctr.w ^ key.y, lo0);
    }
    return ctr;
}

// The 64-bit counter c (lo, hi) plus a 32-bit offset, as (lo, hi).
uvec2 philox_counter_add(uvec2 c, uint offset)
{
    uint carry;
    uint lo = uaddCarry(c.x, offset, carry);
    return uvec2(lo, c.y + carry);
}

#endif
