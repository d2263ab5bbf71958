"""Exact truth of the analytic phantom: closed forms, the Steiner integral, ellipsoid foot points.

Lengths mm, volumes mm^3, angles degrees. Ellipsoid functions work in the ellipsoid's own frame
(centre at the origin, semi-axes ``a, b, c`` along x, y, z; +z is superior).
"""

import numpy as np


def rotation_matrix(axis, angle_deg):
    """3x3 rotation (right-handed, about unit ``axis``) by ``angle_deg`` degrees (Rodrigues)."""
    axis = np.asarray(axis, float)
    norm = np.linalg.norm(axis)
    if norm == 0 or angle_deg == 0:
        return np.eye(3)
    k = axis / norm
    a = np.radians(angle_deg)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(a) * kx + (1 - np.cos(a)) * kx @ kx


def sphere_cap_negative_volume(r, big_r, theta_deg):
    """Volume between concentric spheres r < R inside a cone of half-angle theta (mm^3)."""
    return 2.0 * np.pi * (1.0 - np.cos(np.radians(theta_deg))) / 3.0 * (big_r ** 3 - r ** 3)


def ellipsoid_point_from_normal(normals, axes):
    """Points (N, 3) of the ellipsoid whose outward unit normal is ``normals`` (N, 3)."""
    a2 = np.asarray(axes, float) ** 2
    scaled = normals * a2
    return scaled / np.sqrt(np.sum(normals * scaled, axis=1))[:, None]


def ellipsoid_curvatures(points, axes):
    """Mean curvature H and Gaussian curvature K (1/mm, 1/mm^2) at ellipsoid ``points``.

    Positive for the outward normal: H = (a^2 + b^2 + c^2 - |x|^2) / (2 a^2 b^2 c^2 g^3),
    K = 1 / (a^2 b^2 c^2 g^4), with g = |x / a^2|.
    """
    a2 = np.asarray(axes, float) ** 2
    g = np.sqrt(np.sum(points ** 2 / a2 ** 2, axis=1))
    abc2 = np.prod(a2)
    mean = (np.sum(a2) - np.sum(points ** 2, axis=1)) / (2.0 * abc2 * g ** 3)
    gauss = 1.0 / (abc2 * g ** 4)
    return mean, gauss


def _cap_quadrature(theta_deg, n_polar=96, n_azimuth=256):
    """Unit normals and solid-angle weights covering the cap of half-angle theta around +z."""
    theta = np.radians(theta_deg)
    x, w = np.polynomial.legendre.leggauss(n_polar)
    polar = 0.5 * theta * (x + 1.0)
    w_polar = 0.5 * theta * w * np.sin(polar)
    azimuth = 2.0 * np.pi * np.arange(n_azimuth) / n_azimuth
    pp, aa = np.meshgrid(polar, azimuth, indexing="ij")
    normals = np.stack([np.sin(pp) * np.cos(aa), np.sin(pp) * np.sin(aa), np.cos(pp)], axis=-1)
    weights = np.repeat(w_polar, n_azimuth) * (2.0 * np.pi / n_azimuth)
    return normals.reshape(-1, 3), weights


def ellipsoid_cap_integrals(axes, theta_deg):
    """Integrals over the ellipsoid part whose normals lie within theta of +z.

    Returns (area, integral of H dA, integral of K dA). Integrated over the Gauss map
    (dA = dOmega / K), Gauss-Legendre in the polar angle and periodic trapezoid in azimuth.
    """
    normals, weights = _cap_quadrature(theta_deg)
    pts = ellipsoid_point_from_normal(normals, axes)
    mean, gauss = ellipsoid_curvatures(pts, axes)
    d_area = weights / gauss
    return float(np.sum(d_area)), float(np.sum(d_area * mean)), float(np.sum(weights))


def ellipsoid_negative_volume(axes, delta, theta_deg):
    """Steiner volume of the layer 0 < t < delta over the normals within theta of superior (mm^3).

    V = integral of (delta + delta^2 H + delta^3 K / 3) dA (exact for a convex surface).
    """
    area, int_h, int_k = ellipsoid_cap_integrals(axes, theta_deg)
    return delta * area + delta ** 2 * int_h + delta ** 3 * int_k / 3.0


def ellipsoid_foot_points(points, axes, iterations=100):
    """Nearest ellipsoid points of ``points`` (N, 3) lying outside it.

    Solves sum (a_i p_i / (t + a_i^2))^2 = 1 for t >= 0 by Newton's method (the function is
    convex and decreasing, so iterates from t = 0 rise monotonically to the root).
    Returns (foot points, outward unit normals at them, distances), all in mm.
    """
    p = np.asarray(points, float)
    a2 = np.asarray(axes, float) ** 2
    t = np.zeros(len(p))
    for _ in range(iterations):
        ratio = p * np.sqrt(a2) / (t[:, None] + a2)
        f = np.sum(ratio ** 2, axis=1) - 1.0
        df = -2.0 * np.sum(ratio ** 2 / (t[:, None] + a2), axis=1)
        step = -f / df
        t = t + step
        if np.max(np.abs(step)) < 1e-10:
            break
    foot = a2 * p / (t[:, None] + a2)
    grad = foot / a2
    normal = grad / np.linalg.norm(grad, axis=1)[:, None]
    dist = np.linalg.norm(p - foot, axis=1)
    return foot, normal, dist
