/* The fast CPU backend's op table: OpenBLAS for the products, OpenMP for the rest. */
#include "cpu/cpu_ops.h"

static const ordo_ops k_ops_cpu = {
    .name = "cpu",
    .embed_forward = embed_forward_cpu,
    .embed_backward = embed_backward_cpu,
    .layernorm_forward = layernorm_forward_cpu,
    .layernorm_backward = layernorm_backward_cpu,
    .matmul_forward = matmul_forward_cpu,
    .matmul_backward = matmul_backward_cpu,
    .attention_forward = attention_forward_cpu,
    .attention_backward = attention_backward_cpu,
    .attention_cached_forward = attention_cached_forward_cpu,
    .rope_forward = rope_forward_cpu,
    .rope_backward = rope_backward_cpu,
    .gelu_forward = gelu_forward_cpu,
    .gelu_backward = gelu_backward_cpu,
    .gelu_tanh_forward = gelu_tanh_forward_cpu,
    .gelu_tanh_backward = gelu_tanh_backward_cpu,
    .tanh_forward = tanh_forward_cpu,
    .tanh_backward = tanh_backward_cpu,
    .dropout_forward = dropout_forward_cpu,
    .dropout_backward = dropout_backward_cpu,
    .residual_forward = residual_forward_cpu,
    .crossentropy_forward = crossentropy_forward_cpu,
    .crossentropy_backward = crossentropy_backward_cpu,
    .mse_forward = mse_forward_cpu,
    .mse_backward = mse_backward_cpu,
    .bce_logits_forward = bce_logits_forward_cpu,
    .bce_logits_backward = bce_logits_backward_cpu,
};

const ordo_ops *ops_cpu(void) { return &k_ops_cpu; }
