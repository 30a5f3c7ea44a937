"""The benchmark configurations of issue 3, their FLOP counts and the scaling sweep.

Every framework builds the same model from a :class:`Config`: a stack of recurrent layers
of one kind (``cell``: LSTM, or GRU with Keras 3's ``reset_after=True``, the convention of
``torch.nn.GRU``; all but the last with ``return_sequences=True``), then an optional Dense
head on the last output. ``stream`` configurations feed one timestep per call with the
state carried from call to call (online prediction latency); they are timed for inference
only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

__all__ = ["Config", "CONFIGS", "DEFAULT_CONFIGS", "TINY", "GRID", "grid_configs", "sweep_configs",
           "flops"]


@dataclass(frozen=True)
class Config:
    name: str
    batch: int
    timesteps: int
    features: int
    units: tuple[int, ...]  # one entry per stacked recurrent layer
    dense: int | None  # Dense head size, None for no head
    stream: bool = False  # one timestep per call with carried state
    note: str = ""
    cell: str = "lstm"  # the recurrent layers' kind: "lstm" or "gru"

    def describe(self) -> str:
        layers = " + ".join(f"{self.cell.upper()}({u})" for u in self.units)
        if self.dense is not None:
            layers += f" + Dense({self.dense})"
        steps = "1 step/call, carried state" if self.stream else f"{self.timesteps} steps"
        return f"batch {self.batch}, {steps}, {self.features} feature(s): {layers}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["units"] = list(self.units)
        d["description"] = self.describe()
        return d


CONFIGS: dict[str, Config] = {
    c.name: c
    for c in [
        Config("sine-20x2", 32, 50, 1, (20, 20), 5, note="seeds 001/004"),
        Config("stock-50x4", 32, 60, 1, (50, 50, 50, 50), 1, note="seed 000"),
        Config("shapes-64-32", 32, 10, 2, (64, 32), 1, note="seed 003"),
        Config("mid-256", 64, 100, 64, (256,), 1),
        Config("large-512", 128, 100, 256, (512,), 1),
        Config("stream-1", 1, 1, 1, (50, 50), None, stream=True,
               note="online prediction latency, per timestep"),
        Config("gru-50x2", 32, 60, 1, (50, 50), 1, cell="gru",
               note="the Numba GRU core against torch.nn.GRU"),
    ]
}
DEFAULT_CONFIGS = list(CONFIGS)

#: A very small configuration for the smoke test (not part of the default run).
TINY = Config("tiny", 2, 5, 1, (3,), 1, note="smoke test only")
CONFIGS[TINY.name] = TINY

#: The size grid of issue 15 (an acceptance table): one recurrent layer, 50 steps, 32 features,
#: no head; batch x units, for LSTM and GRU. The quick grid (smoke test): one tiny point each.
GRID = {"timesteps": 50, "features": 32, "batch": [1, 8, 32, 128], "units": [32, 128, 512]}
GRID_QUICK = {"timesteps": 4, "features": 3, "batch": [2], "units": [4]}


def grid_configs(quick: bool, cells: tuple[str, ...] = ("lstm", "gru")) -> list[Config]:
    """Every point of the size grid, named ``grid-<cell>-b<batch>-u<units>`` (registered in
    :data:`CONFIGS` so workers find them by name)."""
    spec = GRID_QUICK if quick else GRID
    points = []
    for cell in cells:
        for batch in spec["batch"]:
            for units in spec["units"]:
                name = f"grid-{cell}-b{batch}-u{units}" + ("-quick" if quick else "")
                cfg = Config(name, batch, spec["timesteps"], spec["features"], (units,), None,
                             note="size grid", cell=cell)
                CONFIGS.setdefault(name, cfg)
                points.append(cfg)
    return points


grid_configs(False)
grid_configs(True)

#: Scaling sweep: one base model, one axis varied at a time.
SWEEP_BASE = Config("sweep", 32, 50, 32, (128,), 1)
SWEEP_AXES: dict[str, list[int]] = {
    "timesteps": [10, 25, 50, 100, 200],
    "batch": [1, 4, 16, 32, 64, 128],
    "units": [16, 32, 64, 128, 256, 512],
}
SWEEP_AXES_QUICK: dict[str, list[int]] = {
    "timesteps": [5, 10],
    "batch": [1, 4],
    "units": [8, 16],
}
SWEEP_BASE_QUICK = Config("sweep", 4, 10, 4, (16,), 1)


def sweep_configs(quick: bool) -> list[tuple[str, int, Config]]:
    """``(axis, value, config)`` for every point of the scaling sweep."""
    base = SWEEP_BASE_QUICK if quick else SWEEP_BASE
    axes = SWEEP_AXES_QUICK if quick else SWEEP_AXES
    points = []
    for axis, values in axes.items():
        for value in values:
            if axis == "units":
                cfg = replace(base, units=(value,), name=f"sweep-units-{value}")
            else:
                cfg = replace(base, **{axis: value}, name=f"sweep-{axis}-{value}")
            points.append((axis, value, cfg))
    return points


def flops(config: Config, training: bool) -> float:
    """Multiply-add FLOPs (2 per MAC) of the matrix products of one call.

    Forward per LSTM layer: ``2·B·T·4U·(D + U)`` (input and recurrent projections), per GRU
    layer the same with 3 gates; the Dense head adds ``2·B·U·n``. A training step counts
    forward + backward as 3× the forward products (backward needs two products per forward
    product). Elementwise gate arithmetic is not counted.
    """
    b, t = config.batch, config.timesteps
    total, d = 0.0, config.features
    gates = 3 if config.cell == "gru" else 4
    for u in config.units:
        total += 2.0 * b * t * gates * u * (d + u)
        d = u
    if config.dense is not None:
        total += 2.0 * b * d * config.dense
    return 3.0 * total if training else total
