"""The one-shot score: a trained supernet's accuracy with edge weights imposed, without retraining.

Perturbation selection (Wang et al., ICLR 2021) and the ground-truth study both
ask "how good is the supernet if its edge weights were W?".  Imposing W shifts
the input of every later block, so BatchNorm's running statistics, collected
under relaxation(alpha), no longer describe the activations.  Scoring in eval
mode would then measure W *plus* a normalisation mismatch that grows with the
size of the change (it favours keeping the largest-weight edge, i.e. argmax).

Like DARTS-PT, we score with **batch statistics**: BN normalises each
evaluation batch with its own mean and variance under W.  The batches are a
fixed, class-shuffled sample of the alpha half (batch statistics on a batch of
one class would be wrong), identical for every W, and the running buffers are
restored afterwards, so scoring changes nothing in the model.  (Recalibrating
the running statistics per trial would also work, at the cost of extra passes.)
"""
from __future__ import annotations

import numpy as np
import torch

from .data import Batches, Dataset, stratified_subset
from .supernet import SuperNet, mask_weights
from .training import evaluate

SCORE_SEED = 12345  # the order of the scoring batches: fixed, so every trial sees the same batches


def scoring_batches(data: Dataset, indices: torch.Tensor, n_images: int, batch_size: int,
                    device: torch.device | str = "cpu") -> Batches:
    """A fixed, stratified, shuffled sample of ``n_images`` of ``indices`` (e.g. the alpha half)."""
    pick = indices[stratified_subset(data.train_y[indices], n_images, seed=0)]
    mean, std = data.mean_std
    return Batches(data.train_x[pick], data.train_y[pick], batch_size, mean=mean, std=std, augment=False,
                   shuffle=True, seed=SCORE_SEED, device=device)


def accuracy_under(model: SuperNet, weights: torch.Tensor, batches: Batches) -> float:
    """Accuracy (%) of ``model`` with edge weights ``weights`` imposed, BN on batch statistics."""
    with model.edge_weights_overridden(weights):
        return evaluate(model, batches, batch_statistics=True)[1]


def mask_score(model: SuperNet, mask, batches: Batches) -> float:
    """The one-shot score of an architecture: accuracy with its mask imposed (1/k per kept edge into a block,
    exactly the weights of the derived network)."""
    weights = mask_weights(torch.as_tensor(np.asarray(mask)))
    return accuracy_under(model, weights, batches)
