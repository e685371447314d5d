"""The one batched PyTorch inference path: canonical uint8 images in, class probabilities
out, a bounded batch at a time. Evaluation, serving, the ONNX parity check and the tune
stage's per-trial predictions all go through :func:`torch_probabilities`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from imgclf.data.store import StoreImages, images_per_chunk
from imgclf.models.spec import ModelSpec, preprocess

# A forward pass takes at most INFERENCE_BATCH images and at most INFERENCE_BATCH_BYTES of
# their uint8 pixels: 512 images up to 90x90 grey or 52x52 RGB, fewer of larger ones, so the
# activations of a batch of 224 px photos stay a few hundred MB instead of several GB.
INFERENCE_BATCH = 512
INFERENCE_BATCH_BYTES = 4 * 1024 * 1024

# What the probability functions take: an array, a store view, or a list of images.
Images = np.ndarray | StoreImages | Sequence[np.ndarray]


def inference_batch_size(images: Images, largest: int = INFERENCE_BATCH) -> int:
    """How many of ``images`` one forward pass takes: ``largest``, or fewer where that many
    would hold more than :data:`INFERENCE_BATCH_BYTES` of pixels."""
    if not len(images):
        return largest
    if isinstance(images, np.ndarray | StoreImages):
        shape = images.shape[1:]
    else:
        shape = np.shape(images[0])
    return min(largest, images_per_chunk(shape, INFERENCE_BATCH_BYTES))


def image_batches(images: Images, size: int) -> Iterator[np.ndarray]:
    """Consecutive in-memory blocks of at most ``size`` of ``images``: an array's slices, a
    store view's reads, a list's images stacked. Only one block is ever held."""
    for start in range(0, len(images), size):
        block = images[start : start + size]
        yield block if isinstance(block, np.ndarray) else np.stack(block)


def torch_probabilities(
    net: nn.Module, spec: ModelSpec, images: Images, batch_size: int = INFERENCE_BATCH
) -> np.ndarray:
    """uint8 canonical images -> N x C softmax probabilities from the PyTorch network, a
    batch at a time (:func:`inference_batch_size`)."""
    net.eval()
    chunks = []
    with torch.inference_mode():
        for batch in image_batches(images, inference_batch_size(images, batch_size)):
            logits = net(preprocess(batch, spec))
            chunks.append(torch.softmax(logits, dim=1).numpy())
    return np.concatenate(chunks) if chunks else np.zeros((0, spec.num_classes), np.float32)
