"""One global fit of the offline proposer's rule kinds: a run's first candidate (OfflineProposer's
start_fit) and, in bench/quality.py, the no-search baseline the search has to beat.

Ridge logistic regression on every feature of a train split's FeatureBank (words, bigrams, word
pairs, word endings and grammar patterns, counted as the rendered skill counts them), the K
features with the largest coefficients kept and refitted, weights rounded to the skill's integer
units, and the threshold the best on out-of-fold scores of train (selection and fit redone in each
fold, so the threshold is chosen on scores of examples the weights never saw). The genome renders
as the same readable skill the offline proposer evolves (engine/proposers/rule_skill.py).
"""
from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.optimize import minimize

from engine.proposers.offline import (MAX_FEATURES, MAX_SOURCE, MAX_WEIGHT, REFIT_RIDGE, SCALE, FeatureBank,
                                      best_threshold, source_size)
from engine.proposers.rule_skill import Genome

FOLDS = 5


def ridge_logistic(x: sparse.csr_matrix, y: np.ndarray, ridge: float) -> tuple[float, np.ndarray]:
    """Minimise log-loss + 0.5 * ridge * |w|^2 with a free intercept: (intercept, weights), in nats."""
    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ theta[1:] + theta[0]
        p = 1 / (1 + np.exp(-np.clip(z, -30, 30)))
        loss = float(np.logaddexp(0, z).sum() - y @ z + 0.5 * ridge * theta[1:] @ theta[1:])
        return loss, np.concatenate([[(p - y).sum()], x.T @ (p - y) + ridge * theta[1:]])

    mean = min(max(float(y.mean()), 0.01), 0.99)
    start = np.concatenate([[np.log(mean / (1 - mean))], np.zeros(x.shape[1])])
    theta = minimize(objective, start, jac=True, method="L-BFGS-B", options={"maxiter": 500}).x
    return float(theta[0]), theta[1:]


def fit(x: sparse.csr_matrix, y: np.ndarray, k: int | None, ridge: float) -> tuple[np.ndarray, np.ndarray, int]:
    """(columns kept, integer weights, integer intercept) of the top-K refit (K None: every column)."""
    b, w = ridge_logistic(x, y, ridge)
    cols = np.arange(x.shape[1])
    if k is not None and k < x.shape[1]:
        cols = np.sort(np.argsort(-np.abs(w), kind="stable")[:k])
        b, w = ridge_logistic(x[:, cols].tocsr(), y, ridge)
    units = np.clip(np.round(w * SCALE), -MAX_WEIGHT, MAX_WEIGHT).astype(np.int64)
    keep = units != 0
    return cols[keep], units[keep], int(round(b * SCALE))


def global_fit(bank: FeatureBank, k: int | None = MAX_FEATURES, ridge: float = REFIT_RIDGE, seed: int = 0,
               max_source: int | None = MAX_SOURCE) -> Genome:
    """The genome of one global fit on the bank's train split; SEED only assigns the threshold's folds.
    With MAX_SOURCE, K shrinks by a tenth at a time until the rendered source fits."""
    x = bank.matrix.tocsr()  # examples x the bank's rules, counted as the skill counts them
    while True:
        genome = _fit_genome(bank, x, k, ridge, seed)
        if max_source is None or len(genome.weights) <= 1 or source_size(genome) <= max_source:
            return genome
        k = int(len(genome.weights) * 0.9)


def _fit_genome(bank: FeatureBank, x: sparse.csr_matrix, k: int | None, ridge: float, seed: int) -> Genome:
    y = bank.target
    cols, units, bias = fit(x, y, k, ridge)
    folds = np.random.default_rng(seed).permutation(len(y)) % FOLDS
    oof = np.zeros(len(y), dtype=np.int64)
    for f in range(FOLDS):
        train, held = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
        c, u, b = fit(x[train], y[train], k, ridge)
        oof[held] = np.asarray(x[held][:, c] @ u).ravel() + b
    threshold, _ = best_threshold(oof, bank.flagged)
    # the skill has no intercept: score + bias >= threshold is score >= threshold - bias
    return Genome({bank.candidates[c]: int(u) for c, u in zip(cols, units)}, threshold - bias)
