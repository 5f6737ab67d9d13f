"""Dense-matrix reference implementations for small problems (test oracles)."""

import numpy as np
import torch


def dense_operator(apply, in_shape) -> np.ndarray:
    """The matrix of a linear map, column by column."""
    n = int(np.prod(in_shape))
    cols = []
    for i in range(n):
        e = torch.zeros(n, dtype=torch.float64)
        e[i] = 1.0
        cols.append(apply(e.reshape(in_shape)).numpy().ravel())
    return np.stack(cols, axis=1)


def dense_q0(prior, shape) -> np.ndarray:
    """Q0 of a Gaussian prior from its quadratic form (polarisation of x^T Q0 x)."""
    n = int(np.prod(shape))
    eye = np.eye(n)
    quad = lambda v: float(prior.quadratic(torch.as_tensor(v.reshape(shape)), len(shape)))  # noqa: E731
    diag = np.array([quad(eye[i]) for i in range(n)])
    q = np.zeros((n, n))
    for i in range(n):
        for j in range(i, n):
            q[i, j] = q[j, i] = (
                0.5 * (quad(eye[i] + eye[j]) - diag[i] - diag[j]) if i != j else diag[i]
            )
    return q


def dense_posterior(a, q0, y, mask, alpha, gamma):
    """Posterior mean, covariance and log evidence of y = M A x + n, x ~ N(0, (alpha Q0)^-1)."""
    m = mask.ravel().astype(float)
    a_obs = a[m > 0]
    y_obs = y.ravel()[m > 0]
    precision = gamma * a_obs.T @ a_obs + alpha * q0
    cov = np.linalg.inv(precision)
    mean = cov @ (gamma * a_obs.T @ y_obs)
    cov_y = np.eye(len(y_obs)) / gamma + a_obs @ np.linalg.inv(alpha * q0) @ a_obs.T
    sign, logdet = np.linalg.slogdet(2 * np.pi * cov_y)
    log_evidence = -0.5 * logdet - 0.5 * y_obs @ np.linalg.solve(cov_y, y_obs)
    return mean, cov, precision, log_evidence


def dense_filter_precision(filters: np.ndarray, shape, epsilon: float) -> np.ndarray:
    """Q0 = sum_d G_d^T G_d + eps I with G_d the circular convolution by filter d, centred at
    s // 2 (built tap by tap, independently of any FFT)."""
    n = int(np.prod(shape))
    q0 = epsilon * np.eye(n)
    for g in filters:
        conv = np.zeros((n, n))
        for tap in np.ndindex(g.shape):
            offset = [t - s // 2 for t, s in zip(tap, g.shape, strict=True)]
            for p in np.ndindex(*shape):
                q = tuple((pi - o) % m for pi, o, m in zip(p, offset, shape, strict=True))
                conv[np.ravel_multi_index(p, shape), np.ravel_multi_index(q, shape)] += g[tap]
        q0 += conv.T @ conv
    return q0
