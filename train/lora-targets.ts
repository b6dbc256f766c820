/**
 * The weights a LoRA adapter can adapt: the native trainer's `--lora-targets` names (native/lora.cpp,
 * `blk.N.<name>.weight`; `output` is the untied output matrix). Pure, so workflow code may import it.
 */
export const LORA_TARGETS = ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down', 'output'] as const;
