"""How Keras packs the four LSTM gates, and how PyTorch packs them.

Keras stores one LSTM layer as three arrays::

    kernel            (input_dim, 4 * units)   input  -> gates
    recurrent_kernel  (units,     4 * units)   h_tm1  -> gates
    bias              (4 * units,)

Along the last axis the four gate blocks follow each other in the order
``GATES = ("i", "f", "c", "o")``: input gate, forget gate, candidate carry, output gate.
So ``kernel[:, :units]`` is ``kernel_i``, ``kernel[:, units:2*units]`` is ``kernel_f``, and
so on. This module is the one place that knows the packing: everything else calls
:func:`split_gates` and :func:`join_gates`.

PyTorch's ``nn.LSTM`` keeps the same gate order (it calls the candidate ``g``) but stores
the transposes, ``weight_ih (4H, D)`` and ``weight_hh (4H, H)``, and two biases
``bias_ih`` and ``bias_hh`` that are simply added.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "GATES",
    "GATE_NAMES",
    "split_gates",
    "join_gates",
    "lstm_param_count",
    "lstm_param_formula",
    "packed_param_rule",
    "keras_to_torch",
    "torch_to_keras",
]

#: Keras gate order along the packed axis: input, forget, candidate carry ("c"), output.
GATES: tuple[str, str, str, str] = ("i", "f", "c", "o")

GATE_NAMES: dict[str, str] = {
    "i": "input gate",
    "f": "forget gate",
    "c": "candidate carry",
    "o": "output gate",
}


def split_gates(packed: np.ndarray, n: int = 4) -> tuple[np.ndarray, ...]:
    """Split a packed array into its ``n`` gate blocks (views, in packing order).

    Works on anything whose last axis is ``n * units``: a kernel, a recurrent kernel,
    a bias, or the pre-activations ``z`` of a timestep. ``n`` is 4 for an LSTM (i, f, c, o);
    every recurrent cell (:mod:`npylstm.cells`) packs its gates the same way, with its
    own count.

    >>> import numpy as np
    >>> kernel = np.arange(2 * 12).reshape(2, 12)        # input_dim 2, units 3
    >>> kernel_i, kernel_f, kernel_c, kernel_o = split_gates(kernel)
    >>> kernel_f.tolist()
    [[3, 4, 5], [15, 16, 17]]
    >>> [block.shape for block in split_gates(kernel, 3)]  # a GRU's z, r, h
    [(2, 4), (2, 4), (2, 4)]
    """
    packed = np.asarray(packed)
    if packed.ndim == 0 or packed.shape[-1] % n != 0:
        raise ValueError(
            f"split_gates: expected an array whose last axis is {n} * units, "
            f"received shape {packed.shape}"
        )
    return tuple(np.split(packed, n, axis=-1))


def join_gates(*blocks: np.ndarray) -> np.ndarray:
    """Pack gate blocks back into one array along the last axis (inverse of split).

    >>> import numpy as np
    >>> blocks = split_gates(np.arange(8.0))
    >>> join_gates(*blocks).tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    """
    shapes = {np.shape(a) for a in blocks}
    if len(shapes) != 1:
        raise ValueError(
            f"join_gates: the {len(blocks)} gate blocks must have one shape, received {shapes}"
        )
    return np.concatenate(blocks, axis=-1)


def packed_param_rule(n_gates: int, input_dim: int, units: int,
                      use_bias: bool = True) -> tuple[str, str]:
    """``(rule, formula)`` of a layer with ``n_gates`` packed gate blocks: ``kernel (D, nU)``,
    ``recurrent_kernel (U, nU)`` and ``bias (nU,)``.

    >>> packed_param_rule(3, 2, 4, use_bias=False)
    ('3 × units × (input_dim + units)', '3 × 4 × (2 + 4) = 72')
    """
    bias = " + 1" if use_bias else ""
    total = n_gates * units * (input_dim + units + (1 if use_bias else 0))
    return (
        f"{n_gates} × units × (input_dim + units{bias})",
        f"{n_gates} × {units} × ({input_dim} + {units}{bias}) = {total:,}",
    )


def lstm_param_count(input_dim: int, units: int, use_bias: bool = True) -> int:
    """Number of weights of one Keras LSTM layer: ``4 * units * (input_dim + units + 1)``.

    The ``+ 1`` is the bias and disappears with ``use_bias=False``.

    >>> lstm_param_count(2, 64), lstm_param_count(64, 32), lstm_param_count(1, 20)
    (17152, 12416, 1760)
    """
    return 4 * units * (input_dim + units + (1 if use_bias else 0))


def lstm_param_formula(input_dim: int, units: int, use_bias: bool = True) -> str:
    """The parameter count written out with the numbers filled in.

    >>> lstm_param_formula(2, 64)
    '4 × 64 × (2 + 64 + 1) = 17,152'
    """
    return packed_param_rule(4, input_dim, units, use_bias)[1]


def keras_to_torch(
    kernel: np.ndarray, recurrent_kernel: np.ndarray, bias: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Repack one Keras LSTM layer as PyTorch ``nn.LSTM`` arrays (layer suffix not added).

    Returns ``weight_ih (4H, D)``, ``weight_hh (4H, H)``, ``bias_ih (4H,)``, ``bias_hh (4H,)``.
    Both layouts use the gate order i, f, c(=g), o, so no block is reordered.

    >>> import numpy as np
    >>> sd = keras_to_torch(np.ones((2, 12)), np.ones((3, 12)), np.arange(12.0))
    >>> sd["weight_ih"].shape, sd["weight_hh"].shape, float(sd["bias_hh"].sum())
    ((12, 2), (12, 3), 0.0)
    """
    kernel = np.asarray(kernel)
    recurrent_kernel = np.asarray(recurrent_kernel)
    units = recurrent_kernel.shape[0]
    if recurrent_kernel.shape != (units, 4 * units) or kernel.ndim != 2 or (
        kernel.shape[1] != 4 * units
    ):
        raise ValueError(
            "keras_to_torch: expected kernel (input_dim, 4*units) and recurrent_kernel "
            f"(units, 4*units), received {kernel.shape} and {recurrent_kernel.shape}"
        )
    if bias is None:
        bias = np.zeros(4 * units, dtype=kernel.dtype)
    bias = np.asarray(bias)
    if bias.shape != (4 * units,):
        raise ValueError(f"keras_to_torch: expected bias ({4 * units},), received {bias.shape}")
    return {
        # PyTorch computes x @ W_ih.T, Keras x @ kernel: the weights are transposed.
        "weight_ih": np.ascontiguousarray(kernel.T),
        "weight_hh": np.ascontiguousarray(recurrent_kernel.T),
        # PyTorch adds two biases; Keras has one. Put it all in bias_ih.
        "bias_ih": bias.copy(),
        "bias_hh": np.zeros_like(bias),
    }


def torch_to_keras(
    weight_ih: np.ndarray,
    weight_hh: np.ndarray,
    bias_ih: np.ndarray | None = None,
    bias_hh: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Repack PyTorch ``nn.LSTM`` arrays of one layer as Keras ``kernel, recurrent_kernel, bias``.

    >>> import numpy as np
    >>> k, r, b = torch_to_keras(np.ones((12, 2)), np.ones((12, 3)), np.ones(12), np.ones(12))
    >>> k.shape, r.shape, b[:2].tolist()
    ((2, 12), (3, 12), [2.0, 2.0])
    """
    weight_ih = np.asarray(weight_ih)
    weight_hh = np.asarray(weight_hh)
    four_h, hidden = weight_hh.shape if weight_hh.ndim == 2 else (None, None)
    if four_h is None or four_h != 4 * hidden:
        raise ValueError(
            f"torch_to_keras: expected weight_hh (4H, H), received {weight_hh.shape}"
            + (" (a proj_size LSTM has no Keras equivalent)" if weight_hh.ndim == 2 else "")
        )
    if weight_ih.ndim != 2 or weight_ih.shape[0] != four_h:
        raise ValueError(
            f"torch_to_keras: expected weight_ih ({four_h}, input_size), received {weight_ih.shape}"
        )
    bias = np.zeros(four_h, dtype=weight_ih.dtype)
    for name, b in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if b is not None:
            b = np.asarray(b)
            if b.shape != (four_h,):
                raise ValueError(f"torch_to_keras: expected {name} ({four_h},), received {b.shape}")
            # PyTorch's two biases always appear as a sum: Keras keeps that sum.
            bias = bias + b
    return (
        np.ascontiguousarray(weight_ih.T),  # (D, 4H): Keras multiplies x @ kernel
        np.ascontiguousarray(weight_hh.T),  # (H, 4H)
        bias,
    )
