"""Keras's AdamW (``keras/src/optimizers/adamw.py``): Adam with decoupled weight decay."""

from __future__ import annotations

from .adam import Adam


class AdamW(Adam):
    """Adam whose ``weight_decay`` (default 0.004) is required: before each Adam step the
    base applies ``w -= w * weight_decay * lr`` (Keras's ``_apply_weight_decay``).

    >>> import numpy as np
    >>> w = [np.array([1.0], "float32")]
    >>> AdamW(learning_rate=0.1).apply(w, [np.array([0.0], "float32")])
    >>> w[0]                                      # 1 - 1 * 0.004 * 0.1 (no gradient)
    array([0.9996], dtype=float32)
    """

    default_name = "adam_w"  # Keras's to_snake_case("AdamW")

    def __init__(
        self,
        learning_rate: float = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
            amsgrad=amsgrad, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name, **kwargs,
        )
        if self.weight_decay is None:
            raise ValueError(
                "AdamW: argument `weight_decay` must be a float. Received: weight_decay=None"
            )
