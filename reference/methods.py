"""The methods of spec/05-methods.md, one function each, written in the verbs of state.Run.

Every method emits tokens distributed exactly as the standard ensemble; they differ in which
member calls they spend (spec/07-cost.md). Phase comments cite the spec's step ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Mapping

from .combine import WeightedEnsemble
from .numbers import as_fraction
from .rng import Chooser, StreamChooser, UniformStream
from .state import Run
from .toy import Ensemble


def _gamma(value, *, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: a proposal length must be an integer >= 1, got {value!r}")
    return value


def _threshold(value, *, name: str = "confidence_threshold") -> Fraction | None:
    """None (no confidence stop) or a probability in [0, 1] read exactly (NUM-1: text as written, a float at
    its binary value), for METHOD-6; anything else is refused naming `name`."""
    if value is None:
        return None
    fix = "a probability in [0, 1] (a proposal stops after a token its proposer gave less); leave it out for " \
          "fixed-length proposals"
    try:
        exact = as_fraction(value, name=name)
    except ValueError:
        raise ValueError(f"{name}: must be {fix}; got {value!r}") from None
    if not 0 <= exact <= 1:
        percent = f" (a percentage? {exact} % is {exact / 100})" if 1 < exact <= 100 else ""
        raise ValueError(f"{name}: must be {fix}; got {value!r}{percent}")
    return exact


def _model_name(value, ensemble, *, name: str, members_only: bool = False) -> str | None:
    """A method's named proposer or drafter: None (the default), or a member's name, or, unless
    `members_only`, the outside drafter's (METHOD-5). Anything else is refused naming `name`."""
    if value is None:
        return None
    outside = ensemble.drafter
    known = list(ensemble.names) + ([outside.name] if outside is not None and not members_only else [])
    if isinstance(value, str) and value in known:
        return value
    if outside is not None and members_only and value == outside.name:
        raise ValueError(f"{name}: {value!r} is the outside drafter, which only NaiveSE and SpeculativeMixture draft "
                         "from (METHOD-5); name a member, or None for the cheapest")
    what = "member or outside drafter" if len(known) > len(ensemble.names) else "member"
    hint = "" if outside is not None else \
        " (a model outside the ensemble drafts once given as Ensemble(..., drafter=...), or in a toy file as " \
        "ensemble.drafter, TOY-7)"
    raise ValueError(f"{name}: no {what} named {value!r}; name one of {known}, or None for the default{hint}")


@dataclass(frozen=True)
class StandardEnsemble:
    """Every member runs for every token. STD-1."""

    name = "standard"

    def check(self, ensemble: Ensemble) -> "StandardEnsemble":
        return self

    def to_json(self) -> dict:
        return {"name": self.name}


@dataclass(frozen=True)
class NaiveSE:
    """Speculative decoding over the ensemble: one fixed proposer. NAIVE-1.

    proposer: member name, or the outside drafter's (then a fully accepted round ends with a draw from
    r, NAIVE-5); None: the ensemble's outside drafter if it has one, else the cheapest member.
    gamma: proposal length >= 1, the most a proposal holds when confidence_threshold (a probability,
    METHOD-6; transformers' assistant_confidence_threshold) stops it after a token its proposer gave
    less. The threshold is held as an exact Fraction (NUM-1: "0.4" and Decimal("0.4") are 2/5, the
    float 0.4 its binary value) and written to JSON as a string.
    Raises ValueError for a gamma or threshold out of range.
    """

    gamma: int = 1
    proposer: str | None = None
    confidence_threshold: Fraction | None = None  # any exact or float probability in; held as a Fraction
    name = "naive"

    def __post_init__(self):
        _gamma(self.gamma, name="gamma")
        object.__setattr__(self, "confidence_threshold", _threshold(self.confidence_threshold))  # exact (NUM-1)

    def check(self, ensemble: Ensemble) -> "NaiveSE":
        outside = ensemble.drafter.name if ensemble.drafter is not None else None  # NAIVE-1: an outside drafter
        proposer = _model_name(self.proposer, ensemble, name="proposer") or outside or ensemble.cheapest()  # METHOD-5
        return NaiveSE(gamma=self.gamma, proposer=proposer, confidence_threshold=self.confidence_threshold)

    def to_json(self) -> dict:
        extra = {} if self.confidence_threshold is None else {"confidence_threshold": str(self.confidence_threshold)}
        return {"name": self.name, "gamma": self.gamma, "proposer": self.proposer, **extra}


@dataclass(frozen=True)
class SpeculativeEnsemble:
    """Alternate proposals with bonus tokens, any number of members. SE-1.

    gammas: {member name: proposal length >= 1} for every member, the most a proposal holds when
    confidence_threshold (a probability, METHOD-6) stops it after a token its proposer gave less.
    default_proposer: the member that drafts when nothing is cached (None: the cheapest member).
    """

    gammas: Mapping[str, int] = field(default_factory=dict)
    default_proposer: str | None = None
    confidence_threshold: Fraction | None = None  # any exact or float probability in; held as a Fraction
    name = "se"

    def __post_init__(self):
        if not isinstance(self.gammas, Mapping):  # members are named, never placed (SE-1)
            raise ValueError(f"gammas: give one proposal length per member by name, e.g. {{'a': 3, 'b': 1}}, "
                             f"got {self.gammas!r}")
        for k, g in self.gammas.items():
            _gamma(g, name=f"gammas[{k!r}]")
        object.__setattr__(self, "confidence_threshold", _threshold(self.confidence_threshold))  # exact (NUM-1)

    def check(self, ensemble: Ensemble) -> "SpeculativeEnsemble":
        missing = [k for k in ensemble.names if k not in self.gammas]
        unknown = [k for k in self.gammas if k not in ensemble.names]
        if missing or unknown:
            raise ValueError(f"gammas: need one proposal length per member {list(ensemble.names)}; "
                             f"missing {missing}, unknown {unknown}"
                             + ("; an outside drafter never proposes in SE (METHOD-5): use NaiveSE(proposer=...) "
                                "or SpeculativeMixture" if ensemble.drafter is not None
                                and ensemble.drafter.name in unknown else ""))
        default = (_model_name(self.default_proposer, ensemble, name="default_proposer", members_only=True)
                   or ensemble.cheapest())  # SE-1: a member (METHOD-5)
        return SpeculativeEnsemble(gammas=dict(self.gammas), default_proposer=default,
                                   confidence_threshold=self.confidence_threshold)

    def to_json(self) -> dict:
        extra = {} if self.confidence_threshold is None else {"confidence_threshold": str(self.confidence_threshold)}
        return {"name": self.name, "gammas": dict(self.gammas), "default_proposer": self.default_proposer, **extra}


@dataclass(frozen=True)
class MixtureEnsemble:
    """WE only: pick a member with probability equal to its weight, draw from it. MIX-1."""

    name = "mixture"

    def check(self, ensemble: Ensemble) -> "MixtureEnsemble":
        if not isinstance(ensemble.combination, WeightedEnsemble) or ensemble.mode != "probs":
            raise ValueError("method: the mixture ensemble is exact only for a weighted ensemble in mode 'probs'; "
                             f"got {type(ensemble.combination).__name__} in mode {ensemble.mode!r}")
        return self

    def to_json(self) -> dict:
        return {"name": self.name}


@dataclass(frozen=True)
class SpeculativeMixture:
    """WE only: a drafter drafts a block, each position's member is chosen by weight and verifies it. SMIX-1.

    gamma: block length >= 1. drafter: a member name or the ensemble's outside drafter (None: the
    outside drafter if there is one, else the cheapest member).
    Raises ValueError for a gamma that is not an integer >= 1 (here), and in `check` for an
    ensemble that is not WE in mode 'probs' or a drafter that names no member or outside drafter.
    """

    gamma: int = 1
    drafter: str | None = None
    name = "speculative-mixture"

    def __post_init__(self):
        _gamma(self.gamma, name="gamma")

    def check(self, ensemble) -> "SpeculativeMixture":
        if not isinstance(ensemble.combination, WeightedEnsemble) or ensemble.mode != "probs":  # as MIX-1
            raise ValueError("method: the speculative mixture is exact only for a weighted ensemble in mode 'probs'; "
                             f"got {type(ensemble.combination).__name__} in mode {ensemble.mode!r}")
        outside = ensemble.drafter
        default = outside.name if outside is not None else ensemble.cheapest()
        drafter = _model_name(self.drafter, ensemble, name="drafter") or default  # SMIX-1, METHOD-5
        return SpeculativeMixture(gamma=self.gamma, drafter=drafter)

    def to_json(self) -> dict:
        return {"name": self.name, "gamma": self.gamma, "drafter": self.drafter}


Method = StandardEnsemble | NaiveSE | SpeculativeEnsemble | MixtureEnsemble | SpeculativeMixture
METHOD_NAMES = ("standard", "naive", "se", "mixture", "speculative-mixture")


def method_from_json(obj: Mapping, ensemble: Ensemble) -> Method:
    """Read the `method` object of a toy file. TOY-4.

    A key the named method does not take is refused (e.g. `proposer` on the speculative mixture, whose
    drafter is `drafter`): ignoring it would run another method than the file meant.
    """
    name = obj.get("name")
    keys = {"standard": ("name",), "naive": ("name", "gamma", "proposer", "confidence_threshold"),
            "se": ("name", "gammas", "default_proposer", "confidence_threshold"), "mixture": ("name",),
            "speculative-mixture": ("name", "gamma", "drafter")}.get(name)
    unknown = [k for k in obj if keys is not None and k not in keys]
    if unknown:
        raise ValueError(f"method.{unknown[0]}: method {name!r} takes only the keys {', '.join(keys)}; "
                         f"remove {', '.join(map(repr, unknown))} or rename it")
    if name == "standard":
        method = StandardEnsemble()
    elif name == "naive":
        method = NaiveSE(gamma=obj.get("gamma", 1), proposer=obj.get("proposer"),
                         confidence_threshold=obj.get("confidence_threshold"))
    elif name == "se":
        method = SpeculativeEnsemble(gammas=obj.get("gammas", {}), default_proposer=obj.get("default_proposer"),
                                     confidence_threshold=obj.get("confidence_threshold"))
    elif name == "mixture":
        method = MixtureEnsemble()
    elif name == "speculative-mixture":
        method = SpeculativeMixture(gamma=obj.get("gamma", 1), drafter=obj.get("drafter"))
    else:
        raise ValueError(f"method.name: must be one of {', '.join(METHOD_NAMES)}; got {name!r}")
    return method.check(ensemble)


# ---------------------------------------------------------------------------------------------
# The method functions read only the verbs of a run (prefill, sample_target, forward, propose,
# verify_head, all_hold_head, held_count, choose_member, sample_member, names, cache, done, step), so
# the fast path runs these same functions on its torch `specens.state.Run`: one control flow for both.


def standard_ensemble(run: Run):
    """The standard ensemble: METHOD-1, METHOD-2, then STD-1 and STD-2 until METHOD-3."""
    run.prefill()  # METHOD-1
    run.sample_target()  # METHOD-2: the first token comes straight from r
    while not run.done:
        run.step += 1
        for name in run.names:  # STD-1: every member processes the last emitted token
            run.forward(name)
        run.sample_target()  # STD-2


def naive_se(run: Run, method: NaiveSE):
    """Naive SE: METHOD-1, METHOD-2, then NAIVE-2 .. NAIVE-5 until METHOD-3.

    The proposer may be the outside drafter (METHOD-5): then every member scores.
    """
    run.prefill(method.proposer)  # METHOD-1 (an outside proposer too)
    run.sample_target()  # METHOD-2
    while not run.done:
        run.step += 1
        _naive_step(run, method.proposer, method.gamma, method.confidence_threshold)


def _naive_step(run: Run, proposer: str, gamma: int, threshold=None):
    """One naive round: NAIVE-2 .. NAIVE-5 (also the speculative mixture's greedy step, SMIX-6)."""
    run.propose(proposer, gamma, stop_below=threshold)  # NAIVE-2: catch up, draw gamma tokens (METHOD-6: or fewer)
    for name in run.names:  # NAIVE-3: every other member scores them in one call
        if name != proposer:
            run.forward(name)
    while run.cache and not run.done:  # NAIVE-4: left to right, stop at the first rejection
        if not run.verify_head():
            break
    position = len(run.emitted)  # NAIVE-5: all accepted and every member scored past them (an outside
    if not run.cache and not run.done and all(run.holds_at(k, position) for k in run.names):  # proposer):
        run.sample_target()  # the next token comes straight from r, at no call
    run.cache.clear()  # tokens after an emitted EOS or past max_new_tokens are never emitted


def speculative_ensemble(run: Run, method: SpeculativeEnsemble):
    """Speculative ensemble (SE-1): METHOD-1, METHOD-2, then SE-2 or SE-3, SE-4, SE-5, SE-6 until METHOD-3.

    Any number of members; two members alternate.
    """
    names, gammas, threshold = run.names, method.gammas, method.confidence_threshold
    run.prefill()  # METHOD-1
    run.sample_target()  # METHOD-2
    while not run.done:
        run.step += 1
        scorer, unsure = None, False
        if not run.cache:  # SE-2: nothing cached, the default proposer drafts (METHOD-6: maybe fewer)
            run.propose(method.default_proposer, gammas[method.default_proposer], stop_below=threshold)
        else:  # SE-3: the member holding the fewest cached positions scores them all ...
            scorer = min(names, key=lambda k: (run.held_count(k), names.index(k)))
            run.forward(scorer)
            unsure = run.propose(scorer, 1, bonus=True, stop_below=threshold)  # ... and its next token joins the
            # cache as a bonus (METHOD-6: `unsure` when the scorer doubts it)
        while run.all_hold_head() and not run.done:  # SE-4: verify while every member holds the head
            if not run.verify_head():
                scorer = None  # SE-5: rejected; cache dropped, the default proposer restarts
                break
        if scorer is not None and not run.done and not unsure:  # SE-6: the scorer continues its own proposal
            run.propose(scorer, gammas[scorer] - 1, stop_below=threshold)  # (METHOD-6: a doubtful bonus ends it)
    run.cache.clear()


def mixture_ensemble(run: Run):
    """Mixture ensemble (MIX-1): METHOD-1, METHOD-2, then MIX-2 (MIX-3 at T = 0) until METHOD-3."""
    ensemble = run.ensemble
    weights = [ensemble.combination.weights[k] for k in run.names]
    run.prefill()  # METHOD-1
    run.sample_target()  # METHOD-2
    while not run.done:
        run.step += 1
        if ensemble.sampling.greedy:  # MIX-3: at T = 0 r is not a mixture; run the standard step
            for name in run.names:
                run.forward(name)
            run.sample_target()
            continue
        name = run.choose_member(weights)  # MIX-2: member k ~ Cat(w) ...
        run.forward(name)  # ... processes every emitted token it missed ...
        run.sample_member(name)  # ... and the next token is drawn from its own p_k


def speculative_mixture(run: Run, method: SpeculativeMixture):
    """Speculative mixture (SMIX-1): METHOD-1, METHOD-2, then SMIX-2..SMIX-5 (SMIX-6 at T = 0) until METHOD-3.

    Every emitted token is a draw from p_k with k ~ Cat(w) chosen independently (THM-SMIX).
    """
    drafter, gamma = method.drafter, method.gamma
    weights = [run.ensemble.combination.weights[k] for k in run.names]
    run.prefill(drafter)  # METHOD-1 (an outside drafter too, METHOD-5)
    run.sample_target()  # METHOD-2
    carried = None  # SMIX-5: a choice drawn for the next position that no member could serve at once
    while not run.done:
        run.step += 1
        if run.ensemble.sampling.greedy:  # SMIX-6: at T = 0 r is not a mixture; a naive round with d
            _naive_step(run, drafter, gamma)
            continue
        run.propose(drafter, gamma)  # SMIX-2: d drafts the block
        while run.cache and not run.done:  # SMIX-3: left to right
            position = len(run.emitted)
            chosen, carried = carried or run.choose_member(weights), None  # 1. k_i ~ Cat(w), own uniform
            if chosen == drafter:  # 2. the drafted token is a p_d draw: emit it as is
                run.emit_head()
                continue
            if not run.holds_at(chosen, position):  # 3. SMIX-4: catch up over the whole block, once
                run.forward(chosen)
            if not run.verify_head(against=chosen):  # ... verify against p_k alone; a rejection ends the block
                break
        else:
            if not run.done:  # SMIX-5: block fully accepted; choose the next position's member
                position = len(run.emitted)
                carried = run.choose_member(weights)
                if run.holds_at(carried, position):  # it ran over the block: a free bonus draw
                    run.sample_member(carried)
                    carried = None
        run.cache.clear()  # tokens after an emitted EOS or past max_new_tokens are never emitted


def dispatch(run, method: Method):
    """Run a checked method object's function on `run` (a reference or a fast-path Run)."""
    if isinstance(method, StandardEnsemble):
        standard_ensemble(run)
    elif isinstance(method, NaiveSE):
        naive_se(run, method)
    elif isinstance(method, SpeculativeEnsemble):
        speculative_ensemble(run, method)
    elif isinstance(method, MixtureEnsemble):
        mixture_ensemble(run)
    elif isinstance(method, SpeculativeMixture):
        speculative_mixture(run, method)
    else:
        raise ValueError(f"method: expected StandardEnsemble, NaiveSE, SpeculativeEnsemble, MixtureEnsemble or "
                         f"SpeculativeMixture, got {type(method).__name__}")
    return run


@dataclass
class Result:
    """What a run returns: emitted tokens, total cost (COST-2), calls per member, and the trace. TRACE-1."""

    tokens: list
    cost: object
    calls: dict
    trace: list
    uniforms_used: int | None = None


def run_method(ensemble: Ensemble, method: Method, max_new_tokens: int, chooser: Chooser) -> Result:
    """Run `method` on `ensemble` with every random decision resolved by `chooser`."""
    method = method.check(ensemble)
    run = dispatch(Run(ensemble, chooser, max_new_tokens), method)
    return Result(tokens=list(run.emitted), cost=run.cost, calls=dict(run.calls), trace=run.trace)


def generate(ensemble: Ensemble, method: Method, max_new_tokens: int, *, uniforms=None, seed=None) -> Result:
    """Sample one sequence, consuming uniforms from one stream in spec order (RNG-1).

    Give `uniforms` (a list of floats in [0, 1)) or an integer `seed`.
    """
    stream = UniformStream(uniforms, seed=seed)
    result = run_method(ensemble, method, max_new_tokens, StreamChooser(stream))
    result.uniforms_used = len(stream.used)
    return result
