#version 450
// Rotary position embedding, rotate-half convention (HF Llama / GPT-NeoX): for x [T, H, D] and
// i < D/2, with a = (pos0 + t) * inv_freq[i], inv_freq[i] = theta^(-2i/D):
//   out[i]       = x[i] cos a - x[i + D/2] sin a
//   out[i + D/2] = x[i + D/2] cos a + x[i] sin a
// One invocation per pair. In place is allowed (x and out may alias).
//
// Precision: inv_freq is fp32 (as in HF), computed as 2^-(i * step) with the exponent kept
// exact (step = 2 log2(theta) / D comes as hi + lo). The angle pos * inv_freq is kept as an
// exact hi + lo pair (ar_two_prod) and reduced mod 2 pi with a split 2 pi before sin/cos, so
// large positions lose nothing to the angle rounding or to sin/cos of large arguments; what
// remains is the fp32 rounding of inv_freq, an angle error of ~|pos * inv_freq| * 6e-8.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "activation.glsl"   // ar_two_prod

layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { STYPE x[]; };
layout(std430, binding = 1) writeonly buffer O { STYPE o[]; };

layout(push_constant) uniform Push {
    uint n;         // T * H * D/2 pairs
    uint half_d;    // D / 2
    uint heads;     // H
    uint pos0;
    float step_hi;  // 2 log2(theta) / D = step_hi + step_lo
    float step_lo;
} pc;

const float TWO_PI_HI = 6.28318548202514648;     // float(2 pi)
const float TWO_PI_LO = -1.74845553146951316e-7; // 2 pi - TWO_PI_HI
const float INV_TWO_PI = 0.159154943091895336;

void main()
{
    uint p = ar_flat_index();
    if (p >= pc.n)
        return;
    uint i = p % pc.half_d;
    uint row = p / pc.half_d;           // t * H + h
    float pos = float(pc.pos0 + row / pc.heads);

    // inv_freq = 2^-e, e = i * step split into an integer and a small exact-ish fraction.
    float fi = float(i), e_hi, e_lo;
    ar_two_prod(fi, pc.step_hi, e_hi, e_lo);
    precise float e_int = round(e_hi);
    precise float e_frac = (e_hi - e_int) + (e_lo + fi * pc.step_lo);
    float inv_freq = ldexp(exp2(-e_frac), -int(e_int));

    // angle = a_hi + a_lo exactly, then reduced to [-pi, pi].
    float a_hi, a_lo, m_hi, m_lo;
    ar_two_prod(pos, inv_freq, a_hi, a_lo);
    float k = round(a_hi * INV_TWO_PI);
    ar_two_prod(k, TWO_PI_HI, m_hi, m_lo);
    // a_hi - m_hi is exact (Sterbenz: both are within a few pi of each other).
    precise float r = (a_hi - m_hi) + ((a_lo - m_lo) - k * TWO_PI_LO);
    float c = cos(r), s = sin(r);

    uint b = row * 2u * pc.half_d + i;
    float x0 = float(x[b]), x1 = float(x[b + pc.half_d]);
    o[b] = STYPE(x0 * c - x1 * s);
    o[b + pc.half_d] = STYPE(x1 * c + x0 * s);
}
