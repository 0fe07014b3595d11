/* Plain C references for every op, accumulating in double. Each op group has its own file. */
#pragma once
#include <stddef.h>
#include <stdint.h>

void ref_add (const float *a, const float *b, float *out, size_t n);

/* Activations as in ArActivation: 0 none, 1 GELU (tanh approximation), 2 SiLU. */
double ref_activate (double x, int act);
/* out[m,n] = act(alpha * sum_k a[m*K+k] * W(n,k) + bias[n]), W(n,k) = w[n*K+k], or w[k*N+n]
 * when w_kn; @bias may be NULL. */
void ref_matmul (const float *a, const float *w, const float *bias, float *out, size_t M,
    size_t N, size_t K, int w_kn, float alpha, int act);
/* NCHW conv2d: in [B,Cin,H,W], w [Cout,Cin,kh,kw], bias [Cout] or NULL, out [B,Cout,Ho,Wo]. */
void ref_conv2d (const float *in, const float *w, const float *bias, float *out, size_t B,
    size_t Cin, size_t H, size_t W, size_t Cout, size_t kh, size_t kw, size_t stride,
    size_t pad_top, size_t pad_left, size_t Ho, size_t Wo);
