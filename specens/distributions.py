"""The fast path's arithmetic in torch: transforms, combinations and the two kinds of decision.

Each function mirrors one function of the NumPy reference (`specens.reference`) and cites the same
rule; the reference computes in exact rationals, this module in the dtype of its inputs (float32 by
default, float64 for coupling tests, FAST-2). Everything works on whole vocabulary rows at once: no
Python work per token id, one stable sort per row for top-k and top-p, and a host sync (`.item()`,
`.tolist()`) only where a decision needs a number.

Shapes: `N` members, `V` vocabulary. A row of logits is `(V,)`, the members' rows stacked `(N, V)`.
"""

from __future__ import annotations

import math
import sys
from typing import Mapping, Sequence

import torch

from specens.reference.combine import (
    ContrastiveDecoding,
    CustomCombination,
    LinearLogits,
    WeightedEnsemble,
    check_mode,
)
from specens.processors import min_p_filter
from specens.reference.transforms import Sampling

NEG_INF = float("-inf")


class EmptyDistribution(ValueError):
    """A distribution with no positive entry (NaN or +inf logits, or every token ruled out)."""


# -- transforms (spec/02) ----------------------------------------------------------------------
def _temperature(sampling: Sampling) -> float:
    """T as a float64 divisor; T = 0 (greedy) uses T = 1 (TRANSFORM-1); a T beyond float64 is its largest float."""
    if sampling.greedy:
        return 1.0
    try:
        return float(sampling.temperature)
    except OverflowError:
        return sys.float_info.max


def transform_logits(logits: torch.Tensor, sampling: Sampling, min_p: float = 0.0) -> torch.Tensor:
    """Temperature, top-k, top-p, then min-p, on rows of logits; T = 0 uses T = 1. TRANSFORM-1..4, PROC-8, PROC-9.

    The division by T is done in float64 whatever the dtype, as the reference does (NUM-2), so a
    small T (1e-40, 1e-300) gives the same near-greedy rows in a float32 and a float64 ensemble
    instead of overflowing float32; the result is then float64 (callers cast probabilities back).
    Where even float64 overflows (T below about 1e-306 for logits near 1), the row holds +inf or NaN
    and nothing can be drawn; `temperature_overflows` names the cause.
    One stable descending sort ranks every row (ties to the lower id, TRANSFORM-3); top-k keeps the
    first k ranks, top-p the shortest ranked prefix whose mass (accumulated in float64) reaches p, the
    first token always kept (TRANSFORM-4). Removed tokens get -inf. min_p > 0 then rules out the
    tokens below min_p times the top probability of what is left (PROC-8, `min_p_filter`).
    Args: logits (..., V); min_p in [0, 1] (0: off). Returns (..., V).
    Example: logits (2, 1, 1, 0) with top_k = 2 keep tokens 0 and 1 (the tie at 1 goes to id 1):
    (2, 1, -inf, -inf).
    """
    temperature = _temperature(sampling)
    if temperature != 1.0:
        logits = logits.double() / temperature  # TRANSFORM-2, in float64 (NUM-2)
    vocab = logits.shape[-1]
    top_k = sampling.top_k if sampling.top_k is not None and sampling.top_k < vocab else None
    top_p = None if sampling.top_p is None or sampling.top_p == 1 else float(sampling.top_p)
    if top_k is None and top_p is None:
        return min_p_filter(logits, min_p) if min_p else logits
    ranked, order = torch.sort(logits, dim=-1, descending=True, stable=True)  # (..., V)
    if top_k is not None:  # TRANSFORM-3: exactly the first k ranks survive
        ranked = ranked.clone()
        ranked[..., top_k:] = NEG_INF
    if top_p is not None:  # TRANSFORM-4: keep rank i iff the mass before it is below p
        probs = torch.softmax(ranked.double(), dim=-1)  # (..., V)
        before = torch.cumsum(probs, dim=-1)
        before = torch.nn.functional.pad(before[..., :-1], (1, 0))  # exclusive prefix sums
        ranked = torch.where(before < top_p, ranked, NEG_INF)
    logits = torch.empty_like(logits).scatter_(-1, order, ranked)
    return min_p_filter(logits, min_p) if min_p else logits  # PROC-9: min-p follows top-p


def temperature_overflows(logits: torch.Tensor, sampling: Sampling) -> bool:
    """Whether logits / T leaves float64's range in some row: a finite logit turned +inf or NaN, or a row
    with a finite logit left with none. TRANSFORM-2. Only asked after a draw found nothing to sample.

    temperature_overflows((1, 0), T = 1e-300) is False (1e300 fits); with T = 1e-320 it is True.
    """
    if _temperature(sampling) == 1.0:
        return False
    finite = torch.isfinite(logits)
    scaled = logits.double() / _temperature(sampling)
    lost = finite & (torch.isnan(scaled) | torch.isposinf(scaled))
    emptied = finite.any(dim=-1) & ~torch.isfinite(scaled).any(dim=-1)
    return bool(lost.any() or emptied.any())


def greedy(dist: torch.Tensor) -> torch.Tensor:
    """The one-hot at argmax of each row, ties to the lowest id. TRANSFORM-5.

    greedy((0.25, 0.375, 0.375)) == (0, 1, 0): torch.argmax returns the first maximal index. A row with
    nothing to sample (NaN, as softmax leaves a row of -inf logits, e.g. one a processor emptied) stays
    NaN, so that drawing from it raises EmptyDistribution as at T > 0 instead of emitting token 0
    (PROC-11, TRANSFORM-1).
    """
    one_hot = torch.zeros_like(dist).scatter_(-1, torch.argmax(dist, dim=-1, keepdim=True), 1.0)
    empty = ~(dist > 0).any(dim=-1, keepdim=True)  # NaN > 0 is False
    return one_hot.masked_fill(empty, float("nan"))


def member_probs(logits: torch.Tensor, sampling: Sampling, min_p: float = 0.0) -> torch.Tensor:
    """softmax of the transformed logits (before the greedy rule), in the dtype of `logits`. TRANSFORM-1, NUM-2."""
    return torch.softmax(transform_logits(logits, sampling, min_p), dim=-1).to(logits.dtype)


def proposal_distribution(logits: torch.Tensor, sampling: Sampling, min_p: float = 0.0) -> torch.Tensor:
    """p_k: what member k draws its tokens from, and what its acceptance test divides by. TRANSFORM-6, PROC-10.

    Args: logits (V,) one member's logits, after the processors of PROC-9 that precede temperature;
    min_p: PROC-8's setting. Returns (V,) probabilities; at T = 0 a one-hot.
    """
    p = member_probs(logits, sampling, min_p)
    return greedy(p) if sampling.greedy else p


# -- combinations (spec/03) --------------------------------------------------------------------
class Combiner:
    """r from the members' raw logits, for one combination, mode and sampling. COMBINE-1..7.

    The combination is the reference's config object, keyed by member name (COMBINE-1); `names` fixes
    the row order of the (N, V) input, so no rule here depends on which member proposed.
    """

    def __init__(self, combination, names: Sequence[str], mode: str, sampling: Sampling, *,
                 device: torch.device, dtype: torch.dtype, min_p: float = 0.0):
        self.names, self.mode, self.sampling, self.min_p = tuple(names), check_mode(mode), sampling, float(min_p)
        self.combination = combination
        if isinstance(combination, WeightedEnsemble):
            coefficients = combination.weights
        elif isinstance(combination, ContrastiveDecoding):
            coefficients = {combination.expert: 1, combination.amateur: -combination.mu}
        elif isinstance(combination, LinearLogits):
            coefficients = combination.coefficients
        elif isinstance(combination, CustomCombination):
            coefficients = None
        else:
            raise ValueError(f"combination: expected WeightedEnsemble, ContrastiveDecoding, LinearLogits or "
                             f"CustomCombination, got {type(combination).__name__}")
        self.coefficients = None
        if coefficients is not None:
            values = [float(coefficients.get(k, 0)) for k in self.names]  # in float64 range: NUM-1, COMBINE-3
            self.coefficients = torch.tensor(values, device=device, dtype=dtype)  # (N,)
            nonzero = [i for i, a in enumerate(values) if a != 0]
            self._used = torch.tensor(nonzero, device=device, dtype=torch.long)  # (N',) rows a_k != 0 reads
            self._used_coefficients = self.coefficients[self._used]  # (N',)

    def linear_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """sum_k a_k l_k; a token any member with a_k != 0 rules out (-inf) stays out. COMBINE-6.

        Args: logits (N, V). Returns (V,). Members with a_k = 0 are ignored, -inf included, so
        CD's `-mu * (-inf)` never becomes +inf. If every token is ruled out, the result is all -inf
        and the draw raises (see `Run.explain_empty`).
        Example: a = (1, -0.1), rows (0, -inf) and (1, 2): (0 - 0.1, -inf) = (-0.1, -inf).
        """
        rows = logits.index_select(0, self._used)  # (N', V)
        excluded = torch.isneginf(rows)  # (N', V)
        total = self._used_coefficients.to(rows.dtype) @ rows.masked_fill(excluded, 0.0)  # (V,)
        return total.masked_fill_(excluded.any(dim=0), NEG_INF)

    def _custom(self, vectors: torch.Tensor, kind: str) -> torch.Tensor:
        """A user function of {name: vector}, checked (COMBINE-4): weights >= 0, or logits without NaN/+inf."""
        out = self.combination.fn({k: vectors[i] for i, k in enumerate(self.names)})
        out = torch.as_tensor(out, dtype=vectors.dtype, device=vectors.device)
        if out.shape != vectors.shape[1:]:
            raise ValueError(f"custom combination: must return one value per token, shape {tuple(vectors.shape[1:])}, "
                             f"got {tuple(out.shape)}")
        if kind == "probs":
            total = float(out.sum())
            if bool((out < 0).any()) or not math.isfinite(total) or total <= 0:
                raise ValueError("custom combination: in mode 'probs' it must return finite non-negative weights "
                                 "with a positive sum")
            return out / total
        if bool(torch.isnan(out).any()) or bool(torch.isposinf(out).any()):
            raise ValueError("custom combination: returned NaN or +inf logits; use -inf to rule a token out")
        return out

    def combined(self, logits: torch.Tensor, process=None) -> torch.Tensor:
        """r before the greedy rule, by mode. COMBINE-5 (COMBINE-2, COMBINE-3, COMBINE-4), PROC-10.

        probs: transform each member, combine probabilities (WE: sum_k w_k p_k; logit combinations
        read log p_k). logits: transform each member, combine, softmax. raw-logits: combine the raw
        logits, transform once, softmax. `process` (PROC-9's chain before temperature, rows (R, V) ->
        (R, V), or None) applies where temperature does: to each member's row, or to the combined row
        in mode 'raw-logits' (PROC-10); min-p is part of the transform.
        Args: logits (N, V) member logits in `names` order. Returns (V,).
        """
        custom = self.coefficients is None
        if process is not None and self.mode != "raw-logits":
            logits = process(logits)  # (N, V)
        if self.mode == "probs":
            probs = member_probs(logits, self.sampling, self.min_p)  # (N, V)
            if custom:
                return self._custom(probs, "probs")
            if isinstance(self.combination, WeightedEnsemble):
                return self.coefficients @ probs  # (N,) @ (N, V) -> (V,)
            return torch.softmax(self.linear_logits(torch.log(probs)), dim=-1)
        if self.mode == "logits":
            transformed = transform_logits(logits, self.sampling, self.min_p)  # (N, V)
            mixed = self._custom(transformed, "logits") if custom else self.linear_logits(transformed)
            return torch.softmax(mixed, dim=-1).to(logits.dtype)
        raw = self.raw(logits)  # (V,)
        if process is not None:
            raw = process(raw.unsqueeze(0))[0]  # PROC-10: once, on the combined raw logits
        return member_probs(raw, self.sampling, self.min_p)

    def raw(self, logits: torch.Tensor) -> torch.Tensor:
        """Mode 'raw-logits': the combination of the raw logits, before the sampling transform. COMBINE-5.

        Args: logits (N, V). Returns (V,).
        """
        return self._custom(logits, "logits") if self.coefficients is None else self.linear_logits(logits)

    def target(self, logits: torch.Tensor, process=None) -> torch.Tensor:
        """r, the law of every emitted token; at T = 0 the one-hot of argmax r (computed at T = 1). COMBINE-7."""
        r = self.combined(logits, process)
        return greedy(r) if self.sampling.greedy else r


# -- decisions (spec/04, spec/06) ---------------------------------------------------------------
def sample(dist: torch.Tensor, u: float, ids: torch.Tensor) -> int:
    """Inverse CDF: the smallest x with dist[x] > 0 and u < dist[0] + ... + dist[x]. RNG-2.

    The prefix sums are accumulated in float64 whatever the dtype of `dist` (FAST-2), and compared
    with `u` in float64. A binary search finds the first prefix sum above u (one host sync); only if
    that token has probability 0 (rounding in a parallel scan) or none is found does the masked scan
    run. If rounding leaves u at or above the total, the last token of positive probability is
    returned (VERIFY-4); a row with no positive entry (NaN) raises EmptyDistribution.
    Args: dist (V,) non-negative; u in [0, 1); ids (V,) = arange(V) on dist's device.
    Example: sample((0.25, 0, 0.75), 0.2) == 0, sample((0.25, 0, 0.75), 0.25) == 2.
    """
    vocab = ids.numel()
    cumulative = torch.cumsum(dist, dim=0, dtype=torch.float64)  # (V,)
    if dist.device.type == "cpu":  # on the host, two scalar reads are cheapest
        x = int(torch.searchsorted(cumulative, u, right=True))
        positive = x < vocab and dist[x].item() > 0
    else:  # one device-to-host sync for both numbers
        found = torch.searchsorted(cumulative, torch.full((1,), u, dtype=torch.float64, device=dist.device), right=True)
        x, positive = torch.cat((found, dist[found.clamp(max=vocab - 1)] > 0)).tolist()
    if x < vocab and positive:
        return int(x)
    hit = (cumulative > u) & (dist > 0)  # (V,)
    x = int(torch.where(hit, ids, vocab).amin())
    if x < vocab:
        return x
    nonzero = torch.nonzero(dist > 0)
    if nonzero.numel() == 0:
        raise EmptyDistribution("no token has positive probability")
    return int(nonzero[-1])


def accept(u: float, q_x: float, r_x: float) -> bool:
    """The accept test u * q(x) < r(x), no division. RNG-3, VERIFY-1.

    accept(0.5, 0.5, 0.25) is False; accept(0.49, 0.5, 0.25) is True.
    """
    return u * q_x < r_x


def residual(r: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """norm(max(0, r - q)); r itself when that mass rounds to <= 0 or is not finite. VERIFY-2, VERIFY-4.

    Args: r, q (V,). Returns (V,). residual((0.5, 0.5), (0.75, 0.25)) == (0, 1).
    """
    excess = (r - q).clamp_min(0)  # (V,)
    mass = float(excess.sum())
    if not (math.isfinite(mass) and mass > 0):
        return r
    return excess / mass


def weights_vector(weights: Mapping[str, object], names: Sequence[str]) -> list:
    """The WE weights in member order, exact (for MIX-2's member draw, done with the reference's sample)."""
    return [weights[k] for k in names]
