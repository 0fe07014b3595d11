#version 450
// Token sampling, one workgroup per row of logits. The exact semantics are documented in
// common/ops/ar-op-sample.h and mirrored by tests/ref/ref-sample.c.
//
// Every quantity that decides the token is an integer: logits are ordered by their float bits
// (radix keys), weights exp(s - max) are 32-bit fixed point, and masses are 64-bit integer sums.
// Integer sums do not depend on the order of accumulation, so the result is the same for any
// local size, subgroup size or atomic ordering; the only float steps are one multiply by
// 1/T and a hand-written exp made of correctly rounded add/mul marked `precise`.
//
// top-k: radix select (8 bits per pass, MSB first) of the k-th largest key, with one shared
// histogram per pass so that no pass has to clear anything (one barrier per pass), bitmasks of
// non-empty bins so that the (redundant, barrier-free) scans skip empty bins, and a lower bound
// from the invocations' maxima so that small k needs few atomics. When the candidates fit
// (LIST_CAP), the last pass also gathers them into shared memory and top-p and the draw work
// on that list instead of the row.
// top-p: the same select on the fixed-point weights, histograms holding 64-bit mass.
// Draw: per-invocation contiguous chunks of the vocabulary, a shared array of chunk masses,
// and the one invocation whose chunk holds the target rescans it.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "philox.glsl"

layout(local_size_x_id = 0) in;

#ifdef PHILOX_ONLY
// ar_op_philox: the generator alone, so that tests can compare it with the C one bit for bit.
// Item i reads (counter[4], key[2]) from src[6i..] and writes its four words to dst[4i..].
layout(std430, binding = 0) readonly buffer Src { uint src[]; };
layout(std430, binding = 1) writeonly buffer Dst { uvec4 dst[]; };
layout(push_constant) uniform Push { uint n; } pc;

void main()
{
    uint i = ar_flat_index();
    if (i >= pc.n)
        return;
    uvec4 ctr = uvec4(src[6u * i], src[6u * i + 1u], src[6u * i + 2u], src[6u * i + 3u]);
    dst[i] = philox4x32_10(ctr, uvec2(src[6u * i + 4u], src[6u * i + 5u]));
}
#else
layout(std430, binding = 0) readonly buffer Logits { STYPE logits[]; };
layout(std430, binding = 1) writeonly buffer Tokens { uint tokens[]; };
layout(std430, binding = 2) writeonly buffer Probs { float probs[]; };
layout(std430, binding = 3) readonly buffer CounterBase { uint counter_base[]; };

const uint FLAG_GREEDY = 1u;
const uint FLAG_TOP_P = 2u;
const uint FLAG_PROB = 4u;
const uint FLAG_COUNTER_BUF = 8u;   // counter += (counter_base[0], counter_base[1])

layout(push_constant) uniform Push {
    uint rows;
    uint vocab;
    uint top_k;        // 0 = off (the C side also turns k >= vocab off)
    uint top_p32;      // p in 0.32 fixed point, used with FLAG_TOP_P
    uint out_offset;
    uint prob_offset;
    uint flags;
    float inv_temp;    // 1.0f / temperature, computed on the host
    uint seed_lo, seed_hi;
    uint counter_lo, counter_hi;
} pc;

const uint LOCAL = gl_WorkGroupSize.x;

shared uint s_max_key;
shared uint s_argmax;
shared uint s_hist_k[4 * 256];      // top-k counts, one histogram per radix pass
shared uint s_hist_p_lo[4 * 256];   // top-p masses (64-bit: lo word, carries in hi)
shared uint s_hist_p_hi[4 * 256];
// Non-empty bins of each histogram (8 words per pass), so that scans skip empty bins.
shared uint s_used_k[4 * 8];
shared uint s_used_p[4 * 8];
shared uint s_local_max[LOCAL];    // each invocation's largest key, for a top-k lower bound
shared uint s_lower;
// Top-k candidates (keys at or above the 24-bit prefix), when they fit.
const uint LIST_CAP = 240u;   // keeps all shared memory within the 16 KiB every device has
shared uint s_list_n;
shared uint s_list_key[LIST_CAP];
shared uint s_list_idx[LIST_CAP];
shared uint s_list_q[LIST_CAP];
shared uint s_part_lo[LOCAL];       // mass of each invocation's chunk
shared uint s_part_hi[LOCAL];

// Denormals (and -0) become +0: GPUs may flush them, so they are flushed everywhere.
uint canon_bits(uint b)
{
    return (b & 0x7f800000u) == 0u ? 0u : b;
}

// Float bits -> uint with the same order (larger float, larger key).
uint key_of_bits(uint b)
{
    return (b & 0x80000000u) != 0u ? ~b : (b | 0x80000000u);
}

uint bits_of_key(uint k)
{
    return (k & 0x80000000u) != 0u ? (k & 0x7fffffffu) : ~k;
}

uint logit_bits(uint i)
{
    return canon_bits(floatBitsToUint(float(logits[i])));
}

float scaled(uint b)
{
    precise float s = uintBitsToFloat(b) * pc.inv_temp;
    return uintBitsToFloat(canon_bits(floatBitsToUint(s)));
}

// exp(s - m) in 0.32 fixed point, saturated to 0xffffffff at 1; 0 below exp(-23) < 2^-32.
// Range reduction d = n ln2 + r (ln2 split so that n * LN2_HI is exact), Taylor to r^7,
// then an exact scale by 2^n. Each step is one correctly rounded op; `precise` forbids fusing.
uint weight_fixed(float s, float m)
{
    precise float d = s == m ? 0.0 : s - m;   // s == m also covers m = +-inf
    if (!(d >= -23.0))
        return 0u;
    precise float t = d * uintBitsToFloat(0x3fb8aa3bu);   // log2(e)
    t = t + 0.5;
    float n = floor(t);
    precise float r = d - n * uintBitsToFloat(0x3f318000u);   // ln2 hi
    r = r - n * uintBitsToFloat(0xb95e8083u);                 // ln2 lo
    precise float p = r * uintBitsToFloat(0x39500d01u);       // 1/5040
    p = (p + uintBitsToFloat(0x3ab60b61u)) * r;               // 1/720
    p = (p + uintBitsToFloat(0x3c088889u)) * r;               // 1/120
    p = (p + uintBitsToFloat(0x3d2aaaabu)) * r;               // 1/24
    p = (p + uintBitsToFloat(0x3e2aaaabu)) * r;               // 1/6
    p = (p + 0.5) * r;
    p = (p + 1.0) * r;
    p = p + 1.0;
    precise float w = p * uintBitsToFloat(uint(int(n) + 127) << 23);
    precise float f = w * 4294967296.0;
    return f >= 4294967296.0 ? 0xffffffffu : uint(f);
}

// 64-bit unsigned integers as (lo, hi).
uvec2 add64(uvec2 a, uvec2 b)
{
    uint carry;
    uint lo = uaddCarry(a.x, b.x, carry);
    return uvec2(lo, a.y + b.y + carry);
}

uvec2 sub64(uvec2 a, uvec2 b)
{
    uint borrow;
    uint lo = usubBorrow(a.x, b.x, borrow);
    return uvec2(lo, a.y - b.y - borrow);
}

bool lt64(uvec2 a, uvec2 b)
{
    return a.y < b.y || (a.y == b.y && a.x < b.x);
}

// floor(a * q / 2^32), for q < 2^63.
uvec2 mulshr32(uint a, uvec2 q)
{
    uint h1, l1, h2, l2;
    umulExtended(a, q.x, h1, l1);
    umulExtended(a, q.y, h2, l2);
    return add64(uvec2(l2, h2), uvec2(h1, 0u));
}

// 64-bit shared atomic add from two 32-bit ones: whoever wraps the low word carries.
void hist_p_add(uint bin, uint q)
{
    uint old = atomicAdd(s_hist_p_lo[bin], q);
    if (old + q < old)
        atomicAdd(s_hist_p_hi[bin], 1u);
    if (old == 0u)   // first entry (or a wrap to exactly 0: setting the bit again is harmless)
        atomicOr(s_used_p[bin >> 5], 1u << (bin & 31u));
}

void hist_k_add(uint bin)
{
    if (atomicAdd(s_hist_k[bin], 1u) == 0u)
        atomicOr(s_used_k[bin >> 5], 1u << (bin & 31u));
}

uvec2 hist_p(uint bin)
{
    return uvec2(s_hist_p_lo[bin], s_hist_p_hi[bin]);
}

void main()
{
    uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (row >= pc.rows)
        return;   // uniform over the workgroup
    uint lid = gl_LocalInvocationID.x;
    uint V = pc.vocab;
    uint base = row * V;
    bool greedy = (pc.flags & FLAG_GREEDY) != 0u;
    bool use_k = pc.top_k != 0u && !greedy;
    bool use_p = (pc.flags & FLAG_TOP_P) != 0u && !greedy;

    if (use_k)
        for (uint j = lid; j < 4u * 256u; j += LOCAL)
            s_hist_k[j] = 0u;
    if (use_p)
        for (uint j = lid; j < 4u * 256u; j += LOCAL) {
            s_hist_p_lo[j] = 0u;
            s_hist_p_hi[j] = 0u;
        }
    if (lid < 32u) {
        s_used_k[lid] = 0u;
        s_used_p[lid] = 0u;
    }
    if (lid == 0u) {
        s_max_key = 0u;
        s_argmax = 0xffffffffu;
        s_list_n = 0u;
    }
    barrier();

    // Pass over the row: the maximum, with the lowest index holding it.
    uint my_key = 0u, my_idx = 0xffffffffu;
    for (uint i = lid; i < V; i += LOCAL) {
        uint k = key_of_bits(logit_bits(base + i));
        if (my_idx == 0xffffffffu || k > my_key) {
            my_key = k;
            my_idx = i;
        }
    }
    if (my_idx != 0xffffffffu)
        atomicMax(s_max_key, my_key);
    s_local_max[lid] = my_idx != 0xffffffffu ? my_key : 0u;
    barrier();
    uint max_key = s_max_key;

    if (greedy) {
        if (my_idx != 0xffffffffu && my_key == max_key)
            atomicMin(s_argmax, my_idx);
        barrier();
        if (lid == 0u) {
            tokens[pc.out_offset + row] = s_argmax;
            if ((pc.flags & FLAG_PROB) != 0u)
                probs[pc.prob_offset + row] = 1.0;
        }
        return;
    }

    // top-k: the k-th largest key; all keys >= it are kept (ties at the threshold included).
    uint thr_k = 0u;
    bool use_list = false;   // the top-k survivors are in s_list_* (the usual case, small k)
    if (use_k) {
        // The local maxima are distinct elements, so their k-th largest is <= the k-th
        // largest overall: smaller keys cannot change the selection and skip the histograms
        // (which saves most shared atomics when k is small).
        uint lower = 0u;
        if (pc.top_k <= LOCAL) {
            uint mine = s_local_max[lid], rank = 0u;
            for (uint j = 0u; j < LOCAL; j++) {
                uint other = s_local_max[j];
                rank += (other > mine || (other == mine && j < lid)) ? 1u : 0u;
            }
            if (rank == pc.top_k - 1u)
                s_lower = mine;
            barrier();
            lower = s_lower;
        }
        uint prefix = 0u, mask = 0u, rem = pc.top_k;
        for (uint pass = 0u; pass < 4u; pass++) {
            uint shift = 24u - 8u * pass;
            uint h = pass * 256u;
            for (uint i = lid; i < V; i += LOCAL) {
                uint k = key_of_bits(logit_bits(base + i));
                if (k < lower || (k & mask) < prefix)
                    continue;
                if ((k & mask) == prefix)
                    hist_k_add(h + ((k >> shift) & 255u));
                // Last pass: every key at or above the 24-bit prefix is a candidate.
                if (use_list) {
                    uint slot = atomicAdd(s_list_n, 1u);
                    s_list_key[slot] = k;
                    s_list_idx[slot] = i;
                }
            }
            barrier();
            // Every invocation scans the same histogram (no broadcast barrier needed), from
            // the top, visiting only non-empty bins.
            uint b = 0u, above = 0u;
            for (int w = 7; w >= 0; w--) {
                uint used = s_used_k[pass * 8u + uint(w)];
                while (used != 0u) {
                    uint bit = uint(findMSB(used));
                    used ^= 1u << bit;
                    b = uint(w) * 32u + bit;
                    uint c = s_hist_k[h + b];
                    if (above + c >= rem) {
                        w = -1;   // done
                        break;
                    }
                    above += c;
                }
            }
            rem -= above;
            prefix |= b << shift;
            mask |= 255u << shift;
            // Keys above the prefix number k - rem; those within it, this bin's count.
            if (pass == 2u)
                use_list = pc.top_k - rem + s_hist_k[h + b] <= LIST_CAP;
        }
        thr_k = prefix;
    }

    float m = scaled(bits_of_key(max_key));

    uint list_n = use_list ? s_list_n : 0u;
    if (use_list) {
        for (uint j = lid; j < list_n; j += LOCAL) {
            uint k = s_list_key[j];
            s_list_q[j] = k >= thr_k ? weight_fixed(scaled(bits_of_key(k)), m) : 0u;
        }
        barrier();
    }

    // top-p: the largest weight t with mass(q >= t) >= need, need = max(1, p * total).
    uint thr_p = 0u;
    if (use_p) {
        uint prefix = 0u, mask = 0u;
        uvec2 rem = uvec2(0u);
        for (uint pass = 0u; pass < 4u; pass++) {
            uint shift = 24u - 8u * pass;
            uint h = pass * 256u;
            for (uint i = lid; i < (use_list ? list_n : V); i += LOCAL) {
                uint q;
                if (use_list) {
                    q = s_list_q[i];
                } else {
                    uint b = logit_bits(base + i);
                    q = key_of_bits(b) < thr_k ? 0u : weight_fixed(scaled(b), m);
                }
                if (q != 0u && (q & mask) == prefix)
                    hist_p_add(h + ((q >> shift) & 255u), q);
            }
            barrier();
            if (pass == 0u) {
                uvec2 total = uvec2(0u);
                for (uint w = 0u; w < 8u; w++)
                    for (uint used = s_used_p[w]; used != 0u; used &= used - 1u)
                        total = add64(total, hist_p(w * 32u + uint(findLSB(used))));
                rem = mulshr32(pc.top_p32, total);
                if (rem == uvec2(0u))
                    rem = uvec2(1u, 0u);
            }
            uint b = 0u;
            uvec2 above = uvec2(0u);
            for (int w = 7; w >= 0; w--) {
                uint used = s_used_p[pass * 8u + uint(w)];
                while (used != 0u) {
                    uint bit = uint(findMSB(used));
                    used ^= 1u << bit;
                    b = uint(w) * 32u + bit;
                    uvec2 next = add64(above, hist_p(h + b));
                    if (!lt64(next, rem)) {
                        w = -1;
                        break;
                    }
                    above = next;
                }
            }
            rem = sub64(rem, above);
            prefix |= b << shift;
            mask |= 255u << shift;
        }
        thr_p = prefix;
    }

    uvec2 ctr = philox_counter_add(uvec2(pc.counter_lo, pc.counter_hi), row);
    if ((pc.flags & FLAG_COUNTER_BUF) != 0u) {
        uvec2 base = uvec2(counter_base[0], counter_base[1]);
        uint carry;
        uint lo = uaddCarry(ctr.x, base.x, carry);
        ctr = uvec2(lo, ctr.y + base.y + carry);
    }
    uint u = philox4x32_10(uvec4(ctr, 0u, 0u), uvec2(pc.seed_lo, pc.seed_hi)).x;
    uint token = 0xffffffffu, token_q = 0u;
    uvec2 total = uvec2(0u);

    // Draw: inverse CDF over the kept tokens in index order.
    if (use_list) {
        // Few candidates, in no order: each finds the mass of those before it by index.
        for (uint j = 0u; j < list_n; j++) {
            uint q = s_list_q[j];
            if (q >= thr_p)
                total = add64(total, uvec2(q, 0u));
        }
        uvec2 target = mulshr32(u, total);
        for (uint j = lid; j < list_n; j += LOCAL) {
            uint q = s_list_q[j], idx = s_list_idx[j];
            if (q == 0u || q < thr_p)
                continue;
            uvec2 before = uvec2(0u);
            for (uint f = 0u; f < list_n; f++) {
                uint qf = s_list_q[f];
                if (s_list_idx[f] < idx && qf >= thr_p)
                    before = add64(before, uvec2(qf, 0u));
            }
            if (!lt64(target, before) && lt64(target, add64(before, uvec2(q, 0u)))) {
                token = idx;
                token_q = q;
            }
        }
    } else {
        // Contiguous chunks, a shared array of chunk masses, and the one invocation whose
        // chunk holds the target rescans it.
        uint chunk = (V + LOCAL - 1u) / LOCAL;
        uint start = min(lid * chunk, V), end = min(start + chunk, V);
        uvec2 mine = uvec2(0u);
        for (uint i = start; i < end; i++) {
            uint b = logit_bits(base + i);
            if (key_of_bits(b) < thr_k)
                continue;
            uint q = weight_fixed(scaled(b), m);
            if (q >= thr_p)
                mine = add64(mine, uvec2(q, 0u));
        }
        s_part_lo[lid] = mine.x;
        s_part_hi[lid] = mine.y;
        barrier();
        uvec2 before = uvec2(0u);
        for (uint j = 0u; j < LOCAL; j++) {
            uvec2 part = uvec2(s_part_lo[j], s_part_hi[j]);
            if (j < lid)
                before = add64(before, part);
            total = add64(total, part);
        }
        uvec2 target = mulshr32(u, total);
        if (!lt64(target, before) && lt64(target, add64(before, mine))) {
            uvec2 cum = before;
            for (uint i = start; i < end; i++) {
                uint b = logit_bits(base + i);
                if (key_of_bits(b) < thr_k)
                    continue;
                uint q = weight_fixed(scaled(b), m);
                if (q < thr_p)
                    continue;
                cum = add64(cum, uvec2(q, 0u));
                if (lt64(target, cum)) {
                    token = i;
                    token_q = q;
                    break;
                }
            }
        }
    }
    if (total == uvec2(0u) && lid == 0u)
        token = 0u;   // only with NaN logits: no mass anywhere
    if (token != 0xffffffffu) {
        tokens[pc.out_offset + row] = token;
        if ((pc.flags & FLAG_PROB) != 0u)
            probs[pc.prob_offset + row] =
                float(token_q) / (float(total.y) * 4294967296.0 + float(total.x));
    }
}
#endif
