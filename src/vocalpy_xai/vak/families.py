"""vak registration of the ESNDecoder model family (and, on import, AudioProtoNet's).

Importing this module registers, with vak's own registries,

- the family :class:`ESNDecoderModel` (``@vak.models.model_family``), and
- the model ``ESNDecoder`` (``@vak.models.model(family=ESNDecoderModel)``),

so that vak's config parser accepts ``[vak.train.model.ESNDecoder]`` tables and
``vak.models.registry.MODEL_FAMILY_FROM_NAME["ESNDecoder"]`` names the family. vak's own
``train``/``eval``/``predict`` only dispatch its built-in families; ``vocalpy-xai train``
(:mod:`vocalpy_xai.vak.run`) dispatches this one.

The definition is not a placeholder: its ``network``, :class:`ReservoirNetwork`, is the
trained echo state network in torch (reservoir recurrence and readout, weights loaded from
an :class:`~vocalpy_xai.models.ESNDecoder`), which runs a batch of songs at once; a test
checks it against reservoirpy's output. Its ``optimizer`` is the closed-form ridge solver
(:class:`ClosedFormRidge`): ESNs are not trained by gradient descent.
"""

from __future__ import annotations

import attrs
import numpy as np
import torch
import vak

from ..models.esn_decoder import ESNDecoder as _Estimator
from ..models.esn_decoder import ESNParams
from .base import TrainedOutsideLightning


class ReservoirNetwork(torch.nn.Module):
    """An echo state network with a linear readout, in torch.

    ``x_t = (1 - a) x_{t-1} + a tanh(W x_{t-1} + Win u_t + b)``, output ``[x_t, u_t] Wout + c``:
    reservoirpy's leaky reservoir update, batched over songs.

    Parameters
    ----------
    units, n_inputs, n_outputs : int
        Reservoir size, input features, outputs (classes + onset).
    leak_rate : float
        ``a`` above.
    spectral_radius, input_scaling, rc_connectivity, input_connectivity, seed
        How the random weights were drawn (:class:`vocalpy_xai.models.ESNParams`); the
        weights themselves come from a trained model (:meth:`from_estimator`).
    """

    def __init__(
        self,
        units: int = 400,
        n_inputs: int = 96,
        n_outputs: int = 11,
        leak_rate: float = 0.3,
        spectral_radius: float = 0.9,
        input_scaling: float = 0.3,
        rc_connectivity: float = 0.1,
        input_connectivity: float = 0.2,
        seed: int = 0,
        bidirectional: bool = True,
        **feature_params,
    ):
        super().__init__()
        self.leak_rate = leak_rate
        self.bidirectional = bidirectional
        self.weight_params = {
            "spectral_radius": spectral_radius,
            "input_scaling": input_scaling,
            "rc_connectivity": rc_connectivity,
            "input_connectivity": input_connectivity,
            "seed": seed,
            **feature_params,
        }
        self.W = torch.nn.Parameter(torch.zeros(units, units), requires_grad=False)
        self.Win = torch.nn.Parameter(torch.zeros(units, n_inputs), requires_grad=False)
        self.b = torch.nn.Parameter(torch.zeros(units), requires_grad=False)
        n_states = units * (2 if bidirectional else 1)
        self.readout = torch.nn.Linear(n_states + n_inputs, n_outputs)

    @classmethod
    def from_estimator(cls, model: _Estimator) -> ReservoirNetwork:
        """The network of a trained :class:`vocalpy_xai.models.ESNDecoder`."""
        res, out = model.reservoir_, model.readout_
        net = cls(
            res.W.shape[0],
            res.Win.shape[1],
            out.Wout.shape[1],
            model.params.leak_rate,
            bidirectional=model.params.bidirectional,
        )
        with torch.no_grad():
            net.W.copy_(torch.as_tensor(np.asarray(_dense(res.W)), dtype=torch.float32))
            net.Win.copy_(torch.as_tensor(np.asarray(_dense(res.Win)), dtype=torch.float32))
            net.b.copy_(
                torch.as_tensor(
                    np.broadcast_to(res.bias, (res.W.shape[0],)).copy(), dtype=torch.float32
                )
            )
            net.readout.weight.copy_(torch.as_tensor(out.Wout.T, dtype=torch.float32))
            net.readout.bias.copy_(torch.as_tensor(out.bias, dtype=torch.float32))
        return net

    def _run(self, u: torch.Tensor) -> torch.Tensor:
        batch, steps, _ = u.shape
        drive = u @ self.Win.T + self.b  # input part of every step at once
        x = u.new_zeros(batch, self.W.shape[0])
        states = []
        a = self.leak_rate
        for t in range(steps):
            x = (1 - a) * x + a * torch.tanh(x @ self.W.T + drive[:, t])
            states.append(x)
        return torch.stack(states, 1)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """Outputs (batch, time, n_outputs) of inputs (batch, time, n_inputs), from rest."""
        parts = [self._run(u)]
        if self.bidirectional:
            parts.append(self._run(u.flip(1)).flip(1))
        return self.readout(torch.cat([*parts, u], dim=-1))


def _dense(m):
    return m.toarray() if hasattr(m, "toarray") else m


def ridge_objective(
    y_pred: torch.Tensor, y: torch.Tensor, ridge: float = 0.0, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """The objective the readout minimises: squared error plus ``ridge * |Wout|^2``."""
    loss = torch.mean((y_pred - y) ** 2)
    if weight is not None:
        loss = loss + ridge * torch.sum(weight**2)
    return loss


class ClosedFormRidge(torch.optim.Optimizer):
    """The readout is solved in closed form (``reservoirpy.nodes.Ridge``), not stepped.

    vak's model definitions name an optimizer class; this one carries the ridge
    parameter of ``[vak.train.model.ESNDecoder.optimizer]`` and refuses to take gradient
    steps, which would silently do nothing useful for an ESN.
    """

    def __init__(self, params, ridge: float = 1e-4):
        super().__init__(params, {"ridge": ridge})

    def step(self, closure=None):
        raise RuntimeError(
            "ESNDecoder's readout is trained in closed form by `vocalpy-xai train`; "
            "it has no gradient steps"
        )


@vak.models.model_family
class ESNDecoderModel(TrainedOutsideLightning):
    """vak model family of echo-state-network decoders (closed-form training).

    Holds a :class:`ReservoirNetwork`; ``forward`` gives per-frame class and onset scores.
    Training and evaluation go through :mod:`vocalpy_xai.vak.run`, not Lightning's loop.
    """

    @classmethod
    def from_config(cls, config: dict):
        """Network from a config's ``network`` table (weights come from a trained model)."""
        return cls(network=ReservoirNetwork(**config.get("network", {})), loss=ridge_objective)


@vak.models.model(family=ESNDecoderModel)
class ESNDecoder:
    """ESNDecoder, as named in ``[vak.train.model.ESNDecoder]`` tables.

    network: reservoir and feature parameters (:class:`vocalpy_xai.models.ESNParams`,
    :class:`vocalpy_xai.models.BandFeatures`, :class:`vocalpy_xai.models.PostprocessParams`);
    optimizer: ``ridge``; loss: ``onset_weight``.
    """

    network = ReservoirNetwork
    loss = ridge_objective
    optimizer = ClosedFormRidge
    metrics = {"acc": vak.metrics.Accuracy}
    default_config = {
        "network": {
            k: v for k, v in attrs.asdict(ESNParams()).items() if k not in ("ridge", "onset_weight")
        },
        "optimizer": {"ridge": ESNParams().ridge},
        "loss": {},
        "metrics": {},
    }


# AudioProtoNet (prototype networks on cabrnet) registers on import, beside ESNDecoder
from .protonet_family import AudioProtoNet, AudioProtoNetModel  # noqa: E402, F401
