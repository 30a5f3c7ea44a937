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
    return rows


CASES: list = _cases()
