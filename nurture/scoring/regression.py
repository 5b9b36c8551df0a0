"""Logistic regression with an L2 penalty, fitted by Newton's method (IRLS), with standard errors.

Columns are standardised (mean 0, standard deviation 1) before fitting so that one penalty
``l2`` treats every rule alike whatever its unit; the intercept is not penalised. Coefficients
and standard errors are returned in the columns' own units. Standard errors come from the
inverse of the penalised Hessian at the optimum (the usual large-sample approximation); a column
that never varies gets no coefficient (NaN) rather than an invented one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

MAX_STEPS = 50
TOLERANCE = 1e-9


@dataclass(frozen=True)
class LogisticFit:
    intercept: float
    coef: NDArray[np.float64]  # per column, in its own unit (NaN: the column never varies)
    standard_error: NDArray[np.float64]
    converged: bool
    steps: int


def fit_logistic(features: NDArray[Any], outcome: NDArray[Any], *, l2: float = 1.0) -> LogisticFit:
    """Fit ``P(outcome) = sigmoid(intercept + features @ coef)``, penalising ``l2/2 * |coef|^2``
    on the standardised columns."""
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(outcome, dtype=np.float64)
    n, k = x.shape
    mean = x.mean(axis=0) if n else np.zeros(k)
    scale = x.std(axis=0) if n else np.zeros(k)
    varies = scale > 1e-12
    z = np.column_stack([np.ones(n), (x[:, varies] - mean[varies]) / scale[varies]])
    penalty = np.full(z.shape[1], float(l2))
    penalty[0] = 0.0
    beta = np.zeros(z.shape[1])
    converged = False
    steps = 0
    hessian = np.eye(z.shape[1])
    for steps in range(1, MAX_STEPS + 1):  # noqa: B007 - the count is reported
        eta = np.clip(z @ beta, -35, 35)
        mu = 1.0 / (1.0 + np.exp(-eta))
        weight = mu * (1.0 - mu)
        gradient = z.T @ (y - mu) - penalty * beta
        hessian = (z.T * weight) @ z + np.diag(penalty)
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            break
        beta = beta + step
        if float(np.max(np.abs(step))) < TOLERANCE:
            converged = True
            break
    try:
        covariance = np.linalg.inv(hessian)
    except np.linalg.LinAlgError:
        covariance = np.full_like(hessian, np.nan)
    coef = np.full(k, np.nan)
    error = np.full(k, np.nan)
    coef[varies] = beta[1:] / scale[varies]
    error[varies] = np.sqrt(np.diag(covariance)[1:]) / scale[varies]
    intercept = float(beta[0] - np.sum(coef[varies] * mean[varies]))
    return LogisticFit(intercept, coef, error, converged, steps)
