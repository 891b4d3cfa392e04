"""The closed-form fit of masked regression: every pixel's ridge system formed and solved in batch.

For output pixel ``i`` the model is ``y_i = w_i . x_RF(i) + b_i`` over the
``K = r * r`` taps of its receptive field. Training *pairs* give one or more
*samples* each (:class:`RidgeAccumulator`: the three channels of a pair are
three samples of the colour-tuple model). With ``N`` pairs of ``m`` samples
each, the fit minimises for every pixel independently

    sum over pairs of (mean over the pair's m samples of (y_i - w_i . x_RF(i) - b_i) ** 2)  +  lambda * ||w_i|| ** 2

How lambda is scaled
--------------------
lambda weighs the squared weights against the squared error *summed over
pairs* (intensities in [0, 1]); the bias is not regularised, so it absorbs the
mean whatever lambda is. This is the ridge of a Gaussian prior on the weights,
whose best value does not depend on how many pairs there are. In
subject-level 5-fold cross-validation on FRL London's train + val subjects
(smiling -> neutral, r = 3) the best lambda stayed between 0.1 and 0.4 with
56, 28 and 14 training pairs per fold, and on Yale (happy -> neutral, 12
pairs per fold) it was 0.3; a per-sample lambda (the error *averaged* over
pairs) would have had to grow fourfold from 56 to 14 pairs. Scaling lambda by
each pixel's input variance (a scale-free variant) did no better. The
default, 0.3, comes from these runs.
In covariance units the system is ``(C_i + (lambda / N) I) w_i = c_i`` and
``b_i = mean(y_i) - w_i . mean(x_RF(i))``, with ``C_i`` the K x K covariance of
the pixel's taps over all samples and ``c_i`` their covariance with the target.

Forming the statistics
----------------------
Entry ``(a, b)`` of the raw second moments behind ``C_i`` is
``sum_s x_s(i + o_a) x_s(i + o_b)``: the *product image*
``Q_d(j) = sum_s x_s(j) x_s(j + d)`` at ``j = i + o_a``, ``d = o_b - o_a``.
Only ``2r - 1`` row differences times ``2r - 1`` column differences exist, so
``Q`` is computed once for every difference and every pixel, and each ``C_i``
is read from it. A chunk of samples is laid out pixel-major (each pixel's
samples contiguous, rows of the padded image one after the other), so for one
row difference the ``2r - 1`` column differences of every pixel are one batch
of tiny matrix products ``(1 x S) @ (S x (2r - 1))`` over *overlapping strided
views* of the same buffer: ``torch.bmm`` runs them without copying the data,
at BLAS speed. The target covariances are the same with the target in place of
the first factor. Per row difference one ``bmm`` call, no loop over pixels.

Memory does not grow with the number of samples: chunks of at most
:data:`CHUNK_ELEMENTS` values are summed into float64 totals whose size is a
small multiple of the image. Products are summed in float32 within a chunk;
the data are first shifted by the first chunk's mean image so that the sums
hold (nearly) centred values and the final centring does not cancel digits.

Solving
-------
The P small systems are solved together by a Cholesky factorisation
vectorised across pixels (:func:`cholesky_solve_columns`, float64), in blocks of
image rows that bound the memory of the ``(K, K, P)`` system stack.
"""

from __future__ import annotations

import torch

from facexpr.models.masked_regression.receptive import ReceptiveField

#: Samples summed in float32 before their sums join the float64 totals.
CHUNK_SAMPLES = 256

#: Values (rows x padded width x samples) of one band of the pixel-major buffer: 1 MB of float32,
#: which stays in a core's cache while every product of the band is formed.
BAND_ELEMENTS = 1 << 18

#: Bytes of one block of pixel systems (K x K float64 per pixel) formed and solved at a time.
SYSTEM_BLOCK_BYTES = 1 << 24


class RidgeAccumulator:
    """Sufficient statistics of every pixel's ridge system, accumulated over chunks of samples.

    ``add(x, y)`` takes (S, G, H, W) inputs and targets: S samples of G channel
    sets. The colour-tuple model passes each channel of each image as a sample
    (G = 1, ``samples_per_pair`` = C), the per-channel model passes images as
    samples with G = C (``samples_per_pair`` = 1). :meth:`solve` returns the
    (G, K + 1, H, W) weights (bias last).
    """

    def __init__(self, field: ReceptiveField, groups: int, height: int, width: int, samples_per_pair: int = 1):
        self.field = field
        self.samples_per_pair = samples_per_pair
        self.groups, self.height, self.width = groups, height, width
        self.padded_height, self.padded_width = height + 2 * field.pad, width + 2 * field.pad
        self.count = 0
        r, padded_pixels = field.r, self.padded_height * self.padded_width
        # products[g, t, p, u]: sum_s x_s(p) x_s(p + (t, u - (r - 1)) * dilation), p on the padded grid
        self._products = torch.zeros((groups, r, padded_pixels, 2 * r - 1), dtype=torch.float64)
        # cross[g, t, 0, i * Wp + j, u]: sum_s y_s(i, j) x_s(padded (i, j) + (t, u) * dilation), and
        # cross[g, t, 1, i * Wp + j, u]: sum_s x_s(padded (i, j) + (t, u) * dilation), the tap sums
        self._cross = torch.zeros((groups, r, height * self.padded_width, 2, r), dtype=torch.float64)
        self._sum_y = torch.zeros((groups, height, width), dtype=torch.float64)
        self._shift_x: torch.Tensor | None = None
        self._shift_y: torch.Tensor | None = None

    def add(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Add S samples: ``x`` and ``y`` are (S, G, H, W) floats in [0, 1].

        Raises:
            ValueError: the shapes do not match each other or the accumulator.
        """
        expected = (self.groups, self.height, self.width)
        if x.shape != y.shape or tuple(x.shape[1:]) != expected:
            raise ValueError(f"inputs {tuple(x.shape)} and targets {tuple(y.shape)} must both be (S, {expected})")
        for start in range(0, x.shape[0], CHUNK_SAMPLES):
            chunk_x, chunk_y = x[start:start + CHUNK_SAMPLES].float(), y[start:start + CHUNK_SAMPLES].float()
            if self._shift_x is None:
                self._shift_x, self._shift_y = self.field.padded(chunk_x.mean(0, keepdim=True))[0], chunk_y.mean(0)
            self.count += chunk_x.shape[0]
            for group in range(self.groups):
                self._add_group(group, chunk_x[:, group], chunk_y[:, group])

    def _add_group(self, group: int, x: torch.Tensor, y: torch.Tensor) -> None:
        """Add one chunk of one channel set, ``x`` and ``y`` (s, H, W), band of rows by band of rows.

        Each band of padded rows is copied (shifted, border replicated)
        pixel-major into a small buffer with one spare row above and the
        ``2 * pad`` rows below that its products reach, plus one more; it stays
        in cache while the ``2r`` strided ``bmm`` calls read it. Windows that
        run past a row's end read the neighbouring row or a zero row: those
        entries pair a pixel with one outside the padded image and are never
        read by :meth:`solve`.
        """
        samples = x.shape[0]
        r, step, pad, span = self.field.r, self.field.dilation, self.field.pad, 2 * self.field.pad
        height, width = self.height, self.padded_width
        band = max(1, BAND_ELEMENTS // (width * samples))
        buffer = torch.zeros((band + span + 2, width, samples), dtype=torch.float32)
        targets = torch.zeros((band, width, 2, samples), dtype=torch.float32)
        targets[:, :, 1] = 1.0  # a row of ones: its products with the taps are the tap sums
        flat = buffer.view(-1)
        shift_x, shift_y = self._shift_x[group], self._shift_y[group]
        scratch = torch.empty(samples * (band + span) * max(self.width, 1), dtype=torch.float32)
        for top in range(0, self.padded_height, band):
            owned = min(band, self.padded_height - top)
            loaded = min(owned + span, self.padded_height - top)
            first, last = max(0, top - pad), min(height, top + loaded - pad)  # image rows in the band
            above = first - (top - pad)  # band rows above the image: copies of its first row
            below = above + last - first  # band rows from here on: copies of its last row
            rows = buffer[1:1 + loaded]
            centred = scratch[:samples * (last - first) * self.width].view(samples, last - first, self.width)
            torch.sub(x[:, first:last], shift_x[first + pad:last + pad, pad:pad + self.width], out=centred)
            rows[above:below, pad:pad + self.width].copy_(centred.permute(1, 2, 0))
            rows[:above] = rows[above:above + 1]
            rows[below:] = rows[below - 1:below]
            rows[:, :pad] = rows[:, pad:pad + 1]
            rows[:, pad + self.width:] = rows[:, pad + self.width - 1:pad + self.width]
            buffer[1 + loaded:] = 0
            pixels = owned * width
            firsts = flat[width * samples:(width + pixels) * samples].view(pixels, 1, samples)
            for t in range(r):
                start = ((1 + t * step) * width - span) * samples
                partners = flat.as_strided((pixels, samples, 2 * r - 1), (samples, 1, step * samples), start)
                self._products[group, t, top * width:top * width + pixels] += torch.bmm(firsts, partners)[:, 0]
            outputs = min(owned, height - top)
            if outputs <= 0:
                continue
            centred = scratch[:samples * outputs * self.width].view(samples, outputs, self.width)
            torch.sub(y[:, top:top + outputs], shift_y[top:top + outputs], out=centred)
            transposed = targets[:outputs, :self.width, 0]
            transposed.copy_(centred.permute(1, 2, 0))
            self._sum_y[group, top:top + outputs] += transposed.sum(-1)
            target_rows = targets[:outputs].view(outputs * width, 2, samples)
            for t in range(r):
                start = (1 + t * step) * width * samples
                taps = flat.as_strided((outputs * width, samples, r), (samples, 1, step * samples), start)
                self._cross[group, t, top * width:(top + outputs) * width] += torch.bmm(target_rows, taps)

    def _systems(self, rows: slice, ridge: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The ridge systems of the output rows ``rows``, for tap ``a = t * r + u`` at padded ``(i + t*d, j + u*d)``.

        Everything is scaled by the sample count ``n`` (the solution does not
        change): ``matrix`` (K, K, G, h, W), of which only the lower triangle is
        filled, holds the centred tap products ``sum_s (x_a - m_a)(x_b - m_b)``
        of taps ``a >= b`` plus ``n * ridge`` on the diagonal; ``rhs`` (K, G, h, W)
        the centred products of each tap with the target; ``means`` (K, G, h, W)
        the mean of each tap (of the shifted data).
        """
        r, step, n = self.field.r, self.field.dilation, float(self.count)
        height, width = rows.stop - rows.start, self.width
        products = self._products.view(self.groups, r, self.padded_height, self.padded_width, 2 * r - 1)
        cross = self._cross.view(self.groups, r, self.height, self.padded_width, 2, r)
        taps = [(t, u) for t in range(r) for u in range(r)]
        sums = torch.stack([cross[:, t, rows, :width, 1, u] for t, u in taps])
        means = sums / n
        rhs = torch.stack([cross[:, t, rows, :width, 0, u] for t, u in taps]) - sums * (self._sum_y[:, rows] / n)
        matrix = torch.empty((len(taps), len(taps), self.groups, height, width), dtype=torch.float64)
        for a, (ta, ua) in enumerate(taps):
            for b in range(a + 1):
                tb, ub = taps[b]  # b before a in row-major order: ta >= tb, one product image holds the pair
                top, left = rows.start + tb * step, ub * step
                pair = products[:, ta - tb, top:top + height, left:left + width, ua - ub + r - 1]
                torch.addcmul(pair, sums[a], means[b], value=-1.0, out=matrix[a, b])
            matrix[a, a] += n * ridge
        return matrix, rhs, means

    @property
    def pairs(self) -> float:
        """Number of training pairs added (samples / samples per pair)."""
        return self.count / self.samples_per_pair

    def solve(self, lam: float) -> torch.Tensor:
        """The exact ridge solution of every pixel: (G, K + 1, H, W) float32 weights, bias last.

        ``lam`` is the penalty against the error summed over pairs (see the module docstring).

        Raises:
            ValueError: no sample was added, or ``lam`` is not positive (replicated
                borders repeat taps, so border systems are singular without it).
        """
        if self.count == 0:
            raise ValueError("no training sample was added")
        if not lam > 0:
            raise ValueError(f"lambda must be positive, got {lam}")
        taps = self.field.taps
        block = max(1, SYSTEM_BLOCK_BYTES // (8 * taps * taps * self.groups * self.width))
        weights = torch.empty((taps + 1, self.groups, self.height, self.width), dtype=torch.float64)
        shift = torch.stack([self.field.window(self._shift_x, o, self.height, self.width) for o in self.field.offsets])
        for top in range(0, self.height, block):
            rows = slice(top, min(self.height, top + block))
            matrix, rhs, means = self._systems(rows, lam / self.pairs)
            solution, failed = cholesky_solve_columns(matrix.view(taps, taps, -1), rhs.view(taps, -1))
            if bool(failed.any()):
                again = self._systems(rows, lam / self.pairs)[0].view(taps, taps, -1)
                lower = again[:, :, failed].permute(2, 0, 1).tril()
                symmetric = lower + lower.tril(-1).transpose(1, 2)
                columns = rhs.view(taps, -1)[:, failed].T.unsqueeze(-1)
                solution[:, failed] = torch.linalg.lstsq(symmetric, columns, driver="gelsd").solution[..., 0].T
            solution = solution.view(rhs.shape)
            weights[:taps, :, rows] = solution
            mean_y = (self._sum_y[:, rows] / self.count) + self._shift_y[:, rows]
            weights[taps, :, rows] = mean_y - (solution * (means + shift[:, :, rows])).sum(0)
        return weights.transpose(0, 1).float().contiguous()


def cholesky_solve_columns(matrices: torch.Tensor, rhs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Solve P symmetric positive definite K x K systems stored column-wise: (K, K, P) and (K, P) -> (K, P).

    Only the lower triangle of ``matrices`` is read; it is overwritten by its
    Cholesky factor. The factorisation and both substitutions are vectorised
    across the P systems (each step is one elementwise operation on P-long
    rows), which for many small systems is several times faster than a batched
    LAPACK call. Also returns the (P,) mask of the systems whose factorisation
    broke down (not positive definite in floating point); their solution
    columns are meaningless and must be solved another way.
    """
    taps = matrices.shape[0]
    positive = torch.ones(matrices.shape[-1], dtype=torch.bool)
    factor = matrices
    for j in range(taps):
        if j:
            factor[j:, j] -= (factor[j:, :j] * factor[j, :j]).sum(1)
        positive &= factor[j, j] > 0
        factor[j, j].clamp_(min=torch.finfo(matrices.dtype).tiny).sqrt_()
        factor[j + 1:, j] /= factor[j, j]
    solution = torch.empty_like(rhs)
    for i in range(taps):
        solution[i] = (rhs[i] - (factor[i, :i] * solution[:i]).sum(0)) / factor[i, i]
    for i in reversed(range(taps)):
        solution[i] = (solution[i] - (factor[i + 1:, i] * solution[i + 1:]).sum(0)) / factor[i, i]
    return solution, ~positive | ~torch.isfinite(solution).all(0)
