#version 450
// The phase weights of conv2d_up2.comp from a 3x3 kernel [Cout, Cin, 3, 3]: output pixel
// (2y+a, 2x+b) of "upsample 2x, then 3x3 conv" reads input row y-1+a+i for kernel rows
// ky in R(a, i) (R(0,0) = {0}, R(0,1) = {1,2}, R(1,0) = {0,1}, R(1,1) = {2}), likewise for
// columns, so its 2x2 weights are sums of the taps in R(a,i) x R(b,j). Written as
// [Cout, Cin/4, a, cc, b, i, j] (ci = 4 * block + cc), in the storage type, summed in fp32.
// One invocation per output value; run once per model load.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer W3 { STYPE w3[]; };
layout(std430, binding = 1) writeonly buffer WP { STYPE wp[]; };

layout(push_constant) uniform Push {
    uint n;     // Cout * Cin * 16 phase weights
    uint cin;   // a multiple of 4
} pc;

void main()
{
    uint o = ar_flat_index();
    if (o >= pc.n)
        return;
    uint j = o & 1u, i = (o >> 1) & 1u, bx = (o >> 2) & 1u, cc = (o >> 3) & 3u;
    uint ay = (o >> 5) & 1u, blk = o >> 6;               // blk = co * Cin/4 + ci/4
    uint co = blk / (pc.cin / 4), ci = (blk % (pc.cin / 4)) * 4 + cc;
    // Kernel rows lo..hi of R(ay, i), columns of R(bx, j).
    uint ky0 = i == 0 ? 0 : 1 + ay, ky1 = i == 0 ? ay : 2;
    uint kx0 = j == 0 ? 0 : 1 + bx, kx1 = j == 0 ? bx : 2;
    uint base = (co * pc.cin + ci) * 9;
    float s = 0.0;
    for (uint ky = ky0; ky <= ky1; ky++)
        for (uint kx = kx0; kx <= kx1; kx++)
            s += float(w3[base + ky * 3 + kx]);
    wp[o] = STYPE(s);
}
