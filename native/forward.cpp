// The forward graph and loss the trainer differentiates: a llama / qwen2 decoder written op by op,
// so that every weight (embeddings and K/V included) gets a gradient.
#include "lora.h"

#include <cmath>
#include <vector>

namespace arbor {

ForwardGraph build_forward(ggml_context * ctx, const Model & model, int T, int B, int R, int K, const LossOptions & options) {
    const HParams & hp = model.hp;
    const int hd = hp.head_dim();
    const int nh = hp.n_head;
    const int nkv = hp.n_head_kv;
    ForwardGraph fg;
    fg.in.tokens = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, static_cast<int64_t>(T) * B);
    fg.in.positions = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, T);
    fg.in.causal_mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, T, T);
    fg.in.rows = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, R);
    fg.in.target_index = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, K);
    fg.in.target_weight = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 1, K);
    for (ggml_tensor * t : {fg.in.tokens, fg.in.positions, fg.in.causal_mask, fg.in.rows, fg.in.target_index, fg.in.target_weight}) ggml_set_input(t);

    ggml_tensor * x = ggml_get_rows(ctx, model.tok_embd, fg.in.tokens);  // [d, T*B]
    for (const Layer & L : model.layers) {
        ggml_tensor * h = ggml_mul(ctx, ggml_rms_norm(ctx, x, hp.rms_eps), L.attn_norm);
        ggml_tensor * q = lora_linear(ctx, model, L.wq, h);
        ggml_tensor * k = lora_linear(ctx, model, L.wk, h);
        ggml_tensor * v = lora_linear(ctx, model, L.wv, h);
        if (L.bq) q = ggml_add(ctx, q, L.bq);
        if (L.bk) k = ggml_add(ctx, k, L.bk);
        if (L.bv) v = ggml_add(ctx, v, L.bv);
        q = ggml_reshape_4d(ctx, q, hd, nh, T, B);
        k = ggml_reshape_4d(ctx, k, hd, nkv, T, B);
        v = ggml_reshape_4d(ctx, v, hd, nkv, T, B);
        q = ggml_rope_ext(ctx, q, fg.in.positions, model.rope_freqs, hp.n_rot, hp.rope_mode, hp.n_ctx,
                          hp.rope_base, 1.0f, 0.0f, 1.0f, 0.0f, 0.0f);
        k = ggml_rope_ext(ctx, k, fg.in.positions, model.rope_freqs, hp.n_rot, hp.rope_mode, hp.n_ctx,
                          hp.rope_base, 1.0f, 0.0f, 1.0f, 0.0f, 0.0f);
        // Heads and batch share dim 2 ([hd, T, heads*B]): mul_mat then broadcasts K/V heads over
        // query-head groups (GQA) in a form whose backward pass ggml implements.
        q = ggml_reshape_3d(ctx, ggml_cont(ctx, ggml_permute(ctx, q, 0, 2, 1, 3)), hd, T, nh * B);
        k = ggml_reshape_3d(ctx, ggml_cont(ctx, ggml_permute(ctx, k, 0, 2, 1, 3)), hd, T, nkv * B);
        ggml_tensor * vt = ggml_reshape_3d(ctx, ggml_cont(ctx, ggml_permute(ctx, v, 1, 2, 0, 3)), T, hd, nkv * B);
        ggml_tensor * kq = ggml_mul_mat(ctx, k, q);  // [T_k, T_q, nh*B]
        // One fused op (scale, mask, softmax): one attention-sized tensor kept for backward, not three.
        kq = ggml_soft_max_ext(ctx, kq, fg.in.causal_mask, 1.0f / std::sqrt(static_cast<float>(hd)), 0.0f);
        ggml_tensor * kqv = ggml_mul_mat(ctx, vt, kq);  // [hd, T_q, nh*B]
        kqv = ggml_reshape_4d(ctx, kqv, hd, T, nh, B);
        ggml_tensor * attn = ggml_reshape_2d(ctx, ggml_cont(ctx, ggml_permute(ctx, kqv, 0, 2, 1, 3)), hd * nh,
                                             static_cast<int64_t>(T) * B);
        x = ggml_add(ctx, x, lora_linear(ctx, model, L.wo, attn));

        h = ggml_mul(ctx, ggml_rms_norm(ctx, x, hp.rms_eps), L.ffn_norm);
        ggml_tensor * ff = ggml_swiglu_split(ctx, lora_linear(ctx, model, L.ffn_gate, h), lora_linear(ctx, model, L.ffn_up, h));
        x = ggml_add(ctx, x, lora_linear(ctx, model, L.ffn_down, ff));
    }
    x = ggml_mul(ctx, ggml_rms_norm(ctx, x, hp.rms_eps), model.output_norm);
    // Logits only where a target reads them: a PRM marks a few positions per sequence, and with a
    // 150k-token vocabulary every row costs 0.6 MB per tensor.
    x = ggml_get_rows(ctx, x, fg.in.rows);  // [d, R]
    fg.logits = lora_linear(ctx, model, model.output ? model.output : model.tok_embd, x);  // [V, R]

    // Weighted soft cross-entropy: gather p(token | row) at each target slot, then take the log of
    // those K values only (a vocabulary-sized tensor costs V floats per row, forward and backward).
    // The epsilon keeps log finite for underflowed probabilities (gradient exact for p >> 1e-30).
    // The gather reads a scaled copy (×1): when the softmax's incoming gradient is a view (the reshape
    // of the scattered gather gradient, as with a view or a ggml_cont here), this ggml's softmax
    // backward comes out wrong (the gradient check catches it); a scale's gradient is a fresh tensor.
    ggml_tensor * probs = ggml_soft_max(ctx, fg.logits);
    ggml_tensor * flat = ggml_reshape_2d(ctx, ggml_scale(ctx, probs, 1.0f), 1, ggml_nelements(probs));
    ggml_tensor * picked = ggml_log(ctx, ggml_scale_bias(ctx, ggml_get_rows(ctx, flat, fg.in.target_index), 1.0f, 1e-30f));  // [1, K]
    fg.loss = ggml_scale(ctx, ggml_sum(ctx, ggml_mul(ctx, picked, fg.in.target_weight)), -1.0f);
    if (options.pg) {
        fg.in.pg_positive = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 1, K);
        fg.in.pg_negative = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 1, K);
        fg.in.pg_old = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 1, K);
        fg.in.pg_kl = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 1, K);
        for (ggml_tensor * t : {fg.in.pg_positive, fg.in.pg_negative, fg.in.pg_old, fg.in.pg_kl}) ggml_set_input(t);
        ggml_tensor * log_ratio = ggml_sub(ctx, picked, fg.in.pg_old);
        fg.ratio = ggml_exp(ctx, log_ratio);
        // A > 0 gains ρ up to high, A < 0 loses ρ down to low: past the bound the gradient is zero.
        ggml_tensor * capped = ggml_sub(ctx, fg.ratio, ggml_relu(ctx, ggml_scale_bias(ctx, fg.ratio, 1.0f, -options.pg_high)));
        ggml_tensor * floored = ggml_add(ctx, fg.ratio, ggml_relu(ctx, ggml_scale_bias(ctx, fg.ratio, -1.0f, options.pg_low)));
        ggml_tensor * gain = ggml_add(ctx, ggml_sum(ctx, ggml_mul(ctx, capped, fg.in.pg_positive)), ggml_sum(ctx, ggml_mul(ctx, floored, fg.in.pg_negative)));
        // k3 = ρ − log ρ − 1: non-negative, zero at ρ = 1, and unbiased for KL(π_old ‖ π) on tokens
        // sampled from π_old, as these are (the on-policy form exp(−d) + d − 1 explodes as ρ → 0 here).
        ggml_tensor * k3 = ggml_sub(ctx, fg.ratio, ggml_scale_bias(ctx, log_ratio, 1.0f, 1.0f));
        fg.loss = ggml_sub(ctx, ggml_sum(ctx, ggml_mul(ctx, k3, fg.in.pg_kl)), gain);
        // Monitors only (no gradient flows from them): −Σ p log p of each target row.
        ggml_tensor * plogp = ggml_mul(ctx, probs, ggml_log(ctx, ggml_scale_bias(ctx, probs, 1.0f, 1e-30f)));
        fg.entropy = ggml_scale(ctx, ggml_sum_rows(ctx, plogp), -1.0f);
        ggml_set_output(fg.ratio);
        ggml_set_output(fg.entropy);
    }
    const int P = options.pairs;
    if (P > 0) {
        fg.in.pair_sign = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, K, P);
        fg.in.ref_margin = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, P);
        fg.in.pair_weight = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, P);
        for (ggml_tensor * t : {fg.in.pair_sign, fg.in.ref_margin, fg.in.pair_weight}) ggml_set_input(t);
        fg.margin = ggml_mul_mat(ctx, fg.in.pair_sign, ggml_reshape_2d(ctx, picked, K, 1));  // [P, 1]
        ggml_tensor * z = ggml_scale(ctx, ggml_sub(ctx, fg.margin, fg.in.ref_margin), options.dpo_beta);
        ggml_tensor * dpo = ggml_sum(ctx, ggml_mul(ctx, ggml_softplus(ctx, ggml_neg(ctx, z)), fg.in.pair_weight));
        fg.loss = ggml_add(ctx, fg.loss, dpo);
        ggml_set_output(fg.margin);
    }
    ggml_set_output(fg.loss);  // not the logits: kept to the end, [V, R] would stay allocated through backward
    ggml_set_loss(fg.loss);
    return fg;
}

void set_attention_inputs(const ForwardInputs & in, int T) {
    std::vector<int32_t> positions(T);
    for (int t = 0; t < T; t++) positions[t] = t;
    ggml_backend_tensor_set(in.positions, positions.data(), 0, positions.size() * sizeof(int32_t));
    std::vector<float> mask(static_cast<size_t>(T) * T, 0.0f);
    for (int q = 0; q < T; q++) {
        for (int k = q + 1; k < T; k++) mask[static_cast<size_t>(q) * T + k] = -INFINITY;
    }
    ggml_backend_tensor_set(in.causal_mask, mask.data(), 0, mask.size() * sizeof(float));
}

} // namespace arbor
