"""What a network costs to train and serve: floating-point operations of one image's forward
pass, counted by PyTorch's own :class:`~torch.utils.flop_counter.FlopCounterMode`, and its
number of parameters. ``tune.select: simplest_tied`` ranks tied trials by them.

The forward pass is counted, not timed: the count is the same on every machine, and training
costs about three forward passes per image (forward and backward) at any width, so ranking
by it ranks training and serving cost alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from imgclf.models.spec import ModelSpec


@dataclass(frozen=True)
class NetworkCost:
    forward_flops: int  # one image's forward pass
    parameters: int


def network_cost(net: nn.Module, spec: ModelSpec) -> NetworkCost:
    """Count ``net``'s forward FLOPs on one ``spec``-sized image and its parameters."""
    image = torch.zeros(1, spec.in_channels, spec.image_size, spec.image_size)
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            net(image)
    finally:
        net.train(was_training)
    return NetworkCost(
        forward_flops=int(counter.get_total_flops()),
        parameters=sum(parameter.numel() for parameter in net.parameters()),
    )
