"""Conformance rows for Attention, AdditiveAttention, MultiHeadAttention
(:class:`layer_cases.LayerCase` rows)."""

from __future__ import annotations


def _cases() -> list:
    from layer_cases import LayerCase  # a function: layer_cases imports this module

    qv = [(2, 5, 4), (2, 6, 4)]  # query (B, Tq, dim), value (B, Tv, dim)
    qvk = [(2, 5, 4), (2, 6, 3), (2, 6, 4)]  # [query, value, key]: value's own dim
    att = "Attention"
    add = "AdditiveAttention"
    scores = {"return_attention_scores": True}
    rows = [
        LayerCase("attention_dot", {}, att, qv, files=False),
        LayerCase("attention_dot_scale", {"use_scale": True}, att, qv, files=False),
        LayerCase("attention_concat", {"score_mode": "concat"}, att, qv, files=False),
        LayerCase("attention_concat_scale", {"score_mode": "concat", "use_scale": True}, att,
                  qv, files=False),
        LayerCase("attention_key", {"use_scale": True}, att, qvk, files=False),
        LayerCase("attention_masked", {"use_scale": True}, att, qv, files=False, masked=True),
        LayerCase("attention_key_masked", {}, att, qvk, files=False, masked=True),
        LayerCase("attention_causal", {}, att, [(2, 5, 4), (2, 5, 4)], files=False,
                  call_kwargs={"use_causal_mask": True}),
        LayerCase("attention_causal_wide", {"score_mode": "concat"}, att, qv, files=False,
                  call_kwargs={"use_causal_mask": True}),
        LayerCase("attention_scores", {"use_scale": True}, att, qv, files=False,
                  call_kwargs=scores),
        LayerCase("attention_concat_scores_masked", {"score_mode": "concat"}, att, qvk,
                  files=False, call_kwargs=scores, masked=True),
        LayerCase("attention_dropout", {"dropout": 0.3, "seed": 3}, att, qv, files=False,
                  training=True, call_kwargs=scores),
        LayerCase("additive_attention", {}, add, qv, files=False),
        LayerCase("additive_attention_noscale", {"use_scale": False}, add, qv, files=False),
        LayerCase("additive_attention_masked", {}, add, qvk, files=False, masked=True),
        LayerCase("additive_attention_causal_scores", {}, add, qv, files=False,
                  call_kwargs={"use_causal_mask": True, **scores}),
        LayerCase("additive_attention_dropout", {"dropout": 0.25}, add, qv, files=False,
                  training=True),
    ]
    mha = "MultiHeadAttention"
    heads = {"num_heads": 2, "key_dim": 3}
    selfs = [(2, 5, 4), (2, 5, 4)]  # self-attention shapes (the same tensor twice in a graph)
    keras_ignores_query_mask = (
        "Keras's MHA.call reads the query mask from query._keras_mask and ignores "
        "query_mask=; stateless_call cannot attach it: compared with Keras in "
        "tests/test_attention.py",)
    rows += [
        LayerCase("mha", heads, mha, qv, files=False, positional=True),
        LayerCase("mha_self", heads, mha, selfs, files=False, positional=True),
        LayerCase("mha_key", heads, mha, [(2, 5, 4), (2, 6, 3), (2, 6, 5)], files=False,
                  positional=True),
        LayerCase("mha_masked", heads, mha, qv, files=False, positional=True, masked=True,
                  keras_mask_kwargs=("query_mask", "value_mask"), keras=False,
                  notes=keras_ignores_query_mask),
        LayerCase("mha_masked_scores", heads, mha, selfs, files=False, positional=True,
                  masked=True, keras_mask_kwargs=("query_mask", "value_mask"), keras=False,
                  call_kwargs=scores, notes=keras_ignores_query_mask),
        LayerCase("mha_causal", heads, mha, selfs, files=False, positional=True,
                  call_kwargs={"use_causal_mask": True}),
        LayerCase("mha_causal_scores", {**heads, "num_heads": 3}, mha, selfs, files=False,
                  positional=True, call_kwargs={"use_causal_mask": True, **scores}),
        LayerCase("mha_scores", heads, mha, selfs, files=False, positional=True,
                  call_kwargs=scores),
        # value_dim != key_dim: Keras on JAX fails on its fused path (jax.nn.
        # dot_product_attention needs value's head size == key's), so compared on its
        # einsum path (return_attention_scores); Keras's scores spec is (B, N, T, T)
        LayerCase("mha_value_dim_output_shape",
                  {**heads, "value_dim": 2, "output_shape": (2, 3)}, mha, selfs, files=False,
                  positional=True, call_kwargs=scores),
        LayerCase("mha_output_shape_int", {"num_heads": 1, "key_dim": 2, "output_shape": 5},
                  mha, qv, files=False, positional=True),
        LayerCase("mha_nobias", {**heads, "use_bias": False}, mha, qv, files=False,
                  positional=True),
        LayerCase("mha_sliding_window_causal", {**heads, "sliding_window": 2}, mha, selfs,
                  files=False, positional=True, call_kwargs={"use_causal_mask": True}),
        LayerCase("mha_gate", {**heads, "use_gate": True, "value_dim": 2}, mha, selfs,
                  files=False, positional=True, call_kwargs=scores),
        LayerCase("mha_gate_key_nobias", {**heads, "use_gate": True, "use_bias": False}, mha,
                  [(2, 5, 4), (2, 6, 3), (2, 6, 5)], files=False, positional=True),
        LayerCase("mha_dropout", {**heads, "dropout": 0.2, "seed": 1}, mha, selfs, files=False,
                  positional=True, training=True, call_kwargs=scores),
    ]
    return rows


CASES: list = _cases()
