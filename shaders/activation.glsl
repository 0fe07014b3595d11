// Fused epilogue activations, chosen at build time by -DACT_GELU_TANH or -DACT_SILU.

// tanh written so that large |x| saturates to +-1 instead of inf/inf = NaN.
float ar_tanh(float x)
{
    return 1.0 - 2.0 / (exp(2.0 * x) + 1.0);
}

float ar_activate(float x)
{
#if defined(ACT_GELU_TANH)
    // GELU, tanh approximation (as in GPT-2 / PyTorch approximate='tanh').
    return 0.5 * x * (1.0 + ar_tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
#elif defined(ACT_SILU)
    return x / (1.0 + exp(-x));
#else
    return x;
#endif
}
