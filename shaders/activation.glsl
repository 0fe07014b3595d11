// Activation functions, fp32. Written so that no intermediate overflows to inf/inf and the
// negative tails (where GELU is tiny) keep their relative accuracy.

float ar_silu(float x)
{
    // exp(-x) = inf for x << 0 gives x / inf = -0, the right limit.
    return x / (1.0 + exp(-x));
}

// GELU, tanh form: 0.5 x (1 + tanh(y)), y = sqrt(2/pi) (x + 0.044715 x^3).
// 1 + tanh(y) = 2 / (1 + exp(-2y)): no tanh overflow (inf/inf) and no cancellation for x < 0.
float ar_gelu_tanh(float x)
{
    const float k = 0.7978845608028654; // sqrt(2/pi)
    float y = k * (x + 0.044715 * x * x * x);
    return x / (1.0 + exp(-2.0 * y));
}

// Exact product a * b = p + e (Dekker with a Veltkamp split). Vulkan does not promise that
// fma() is fused, so exact products are built from plain operations; `precise` keeps the
// compiler from contracting or reassociating them. Valid while |a|, |b| < ~1e34.
void ar_split(float a, out float hi, out float lo)
{
    precise float c = 4097.0 * a;
    precise float h = c - (c - a);
    hi = h;
    lo = a - h;
}

void ar_two_prod(float a, float b, out float p, out float e)
{
    float ah, al, bh, bl;
    ar_split(a, ah, al);
    ar_split(b, bh, bl);
    precise float pp = a * b;
    precise float ee = ((ah * bh - pp) + ah * bl + al * bh) + al * bl;
    p = pp;
    e = ee;
}

// erf(z) / z for |z| < 0.75, as a degree-5 polynomial in z^2 (our own Chebyshev fit of the
// exact function; max relative error ~1.2e-7 when evaluated in fp32, i.e. ~1 ulp).
float ar_erf_small(float z)
{
    float u = z * z;
    float p = -6.756479852e-04;
    p = fma(p, u, 5.115332082e-03);
    p = fma(p, u, -2.683511376e-02);
    p = fma(p, u, 1.128338650e-01);
    p = fma(p, u, -3.761262000e-01);
    p = fma(p, u, 1.128379107e+00);
    return z * p;
}

// erfc(a) for a >= 0.75: t exp(-a^2 + P(t)), t = 1 / (1 + a/2), P of degree 11 fitted (our own
// Chebyshev fit) to log(erfc(a) / t) + a^2 on a in [0.75, 10.5]; the fit error is ~1e-8 in the
// exponent. a^2 is split into hi + lo (exact, ar_two_prod) so that the large exponent adds
// no rounding error; a_lo is an optional low part of the argument (a + a_lo), for callers
// whose argument is itself rounded (erfc's condition number is 2a^2). Beyond a = 10 erfc is
// below the fp32 range anyway (erfc(10) = 2e-45).
float ar_erfc_large(float a, float a_lo)
{
    a = min(a, 10.0);
    float t = 1.0 / (1.0 + 0.5 * a);
    float p = -3.377390206e-01;
    p = fma(p, t, 1.802729964e+00);
    p = fma(p, t, -4.024520397e+00);
    p = fma(p, t, 4.755539417e+00);
    p = fma(p, t, -3.176859140e+00);
    p = fma(p, t, 1.415620804e+00);
    p = fma(p, t, -6.400752664e-01);
    p = fma(p, t, 2.899524383e-02);
    p = fma(p, t, 6.497344375e-02);
    p = fma(p, t, 3.769259453e-01);
    p = fma(p, t, 9.998807311e-01);
    p = fma(p, t, -1.265508771e+00);
    // exp(-a^2 + p) = 2^-k exp(p - (a^2 - k ln 2)), with a^2 = a2 + a2_lo exactly and
    // a2 - k ln 2 exact (Cody-Waite, split ln 2): exp() only sees a small argument, so its
    // error does not grow with a^2.
    float a2, a2_lo;
    ar_two_prod(a, a, a2, a2_lo);
    precise float lo = a2_lo + 2.0 * a * a_lo;
    precise float k = round(a2 * 1.44269504088896341);
    // ln 2 high part has 15 bits and k < 2^8: k * it is exact, and so is the difference
    // (Sterbenz); then the low part of ln 2.
    precise float r = (a2 - k * 0.693145751953125) - k * 1.4286068202862268e-06;
    return t * ldexp(exp(p - lo - r), -int(k));
}

// erf(x), relative error ~1e-7 over the whole range.
float ar_erf(float x)
{
    float a = abs(x);
    if (a < 0.75)
        return ar_erf_small(x);
    return sign(x) * (1.0 - ar_erfc_large(a, 0.0));
}

// GELU, erf form: 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2); the tail for x < 0
// uses erfc directly, so tiny outputs keep their relative accuracy.
float ar_gelu_erf(float x)
{
    // z = x / sqrt 2 as z + z_lo: the rounding of z alone would cost ~2 z^2 ulp in the tail.
    float z, z_lo;
    ar_two_prod(x, 0.70710676908493042, z, z_lo);
    z_lo += x * 1.2101617152815436e-08;
    if (abs(z) < 0.75)
        return 0.5 * x * (1.0 + ar_erf_small(z));
    float e = ar_erfc_large(abs(z), z < 0.0 ? -z_lo : z_lo);
    return z > 0.0 ? x - 0.5 * x * e : 0.5 * x * e;
}

// Fused epilogue activations, chosen at build time by -DACT_GELU_TANH or -DACT_SILU.

// tanh written so that large |x| saturates to +-1 instead of inf/inf = NaN.
float ar_tanh(float x)
{
    return 1.0 - 2.0 / (exp(2.0 * x) + 1.0);
}

// Fused epilogue of matmul/matvec, chosen at build time by -DACT_GELU_TANH, -DACT_GELU_ERF,
// -DACT_SILU or -DACT_RELU (see shaders/meson.build).
float ar_activate(float x)
{
#if defined(ACT_GELU_TANH)
    return ar_gelu_tanh(x);
#elif defined(ACT_GELU_ERF)
    return ar_gelu_erf(x);
#elif defined(ACT_SILU)
    return ar_silu(x);
#elif defined(ACT_RELU)
    return max(x, 0.0);
#else
    return x;
#endif
}
