"""Golden conformance vectors from the reference (spec/12-vectors.md).

A vector is a toy file (spec/09), a few uniform streams, and for each stream the tokens, cost, calls
and trace (TRACE-1) that `specens.reference.generate` produces from it. Another implementation
conforms when it replays every stream to the same result. The settings below span what a sampler
can get wrong (spec/14-defects.md, DEFECT-13): each method, WE and CD, the three modes, greedy
and sampled, gammas 1 and above 1, each member as the default proposer, EOS (one id or a list), two
and three members, members of orders 1 to 7 after prompts (one reading the whole history), proposals
ended by a confidence stop, and lengths well beyond the first cycles.
"""

from __future__ import annotations

from collections.abc import Mapping

import hashlib
import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np

import specens
from specens.reference import (
    MixtureEnsemble,
    NaiveSE,
    SpeculativeEnsemble,
    SpeculativeMixture,
    StandardEnsemble,
    dump_toy,
    generate,
    load_toy,
)
from specens.reference.processors import Processors
from specens.reference.zoo import random_member, toy_ensemble

FORMAT = "specens/conformance-vector"
INDEX_FORMAT = "specens/conformance-vectors"
VERSION = 1
SEEDS = (0, 1, 2)
RATIO_DIGITS = 12  # VECTOR-3: significant digits kept of each trace ratio
RATIO_RTOL = 1e-9  # VECTOR-4: replay tolerance on ratios; NUM-2 floats differ by a few ulps across libm


def _se(*gammas, default):
    return SpeculativeEnsemble({f"m{k}": g for k, g in enumerate(gammas)}, default)


def _we(n=2, v=4, **kw):
    return toy_ensemble(n, v, seed=kw.pop("seed", 7), **kw)


def _cd(**kw):
    return toy_ensemble(2, 4, combination="cd", kind="logits", sparsity=0, seed=kw.pop("seed", 7), **kw)


def settings() -> list:
    """(name, ensemble, method, max_new_tokens) of every vector. VECTOR-5."""
    half, three_halves = Fraction(1, 2), Fraction(3, 2)
    dense = dict(kind="logits", sparsity=0)
    return [
        ("standard-we", _we(), StandardEnsemble(), 6),
        ("standard-cd-greedy-eos", _cd(temperature=0, eos_token_id=2), StandardEnsemble(), 6),
        ("standard-we3-topp", _we(3, 3, top_p=Fraction(3, 4)), StandardEnsemble(), 6),
        ("naive-we-g1-m0", _we(), NaiveSE(1, "m0"), 8),
        ("naive-we-g3-m1-eos", _we(eos_token_id=2), NaiveSE(3, "m1"), 8),
        ("naive-cd-g2-m0", _cd(), NaiveSE(2, "m0"), 8),
        ("se-we-g1-1-m0", _we(), _se(1, 1, default="m0"), 8),
        ("se-we-g1-3-m0", _we(), _se(1, 3, default="m0"), 8),
        ("se-we-g3-1-m1", _we(), _se(3, 1, default="m1"), 8),
        ("se-we-g2-2-eos", _we(eos_token_id=1), _se(2, 2, default="m0"), 8),
        ("se-we-greedy-g1-3", _we(temperature=0), _se(1, 3, default="m0"), 8),
        ("se-we-logits-g2-1", _we(mode="logits", **dense), _se(2, 1, default="m0"), 8),
        ("se-we-raw-logits-T3/2-g1-2-m1", _we(mode="raw-logits", temperature=three_halves, **dense),
         _se(1, 2, default="m1"), 8),
        ("se-we-T1/2-topk2-g3-3", _we(temperature=half, top_k=2), _se(3, 3, default="m0"), 8),
        ("se-we-topp-g4-1-m1", _we(top_p=Fraction(79, 100)), _se(4, 1, default="m1"), 8),
        ("se-cd-g1-1-m0", _cd(), _se(1, 1, default="m0"), 8),
        ("se-cd-g3-2-m1", _cd(), _se(3, 2, default="m1"), 8),
        ("se-cd-greedy-g2-1-m1-eos", _cd(temperature=0, eos_token_id=2), _se(2, 1, default="m1"), 8),
        ("se-cd-logits-topk3-g2-2", _cd(mode="logits", top_k=3), _se(2, 2, default="m0"), 8),
        ("se-we3-g1-2-1-m0-eos", _we(3, 3, eos_token_id=1), _se(1, 2, 1, default="m0"), 8),
        ("se-we3-g2-1-3-m2", _we(3, 3), _se(2, 1, 3, default="m2"), 8),
        ("mixture-we", _we(), MixtureEnsemble(), 8),
        ("mixture-we3-eos", _we(3, 3, eos_token_id=1), MixtureEnsemble(), 8),
        ("mixture-we-greedy", _we(temperature=0), MixtureEnsemble(), 6),
        # Members of order 3 and above after a prompt (TOY-2), one reading the whole history
        # (order >= prompt length + max_new_tokens - 1), and EOS lists of two ids (METHOD-3).
        ("se-we-orders-5-3-prompt-g1-2-m1", _we(2, 3, orders=(5, 3), prompt=(2, 0)), _se(1, 2, default="m1"), 8),
        ("naive-we-whole-history-g3-m0", _we(2, 2, orders=(7, 1)), NaiveSE(3, "m0"), 8),
        ("se-we3-orders-1-3-2-eos-list-g2-1-1", _we(3, 4, orders=(1, 3, 2), eos_token_id=(1, 3), seed=2),
         _se(2, 1, 1, default="m0"), 8),
        ("standard-cd-orders-4-2-prompt-eos-list", _cd(orders=(4, 2), prompt=(1,), eos_token_id=(0, 3), seed=3),
         StandardEnsemble(), 6),
        # The speculative mixture (SMIX-1): the drafter a member or outside the ensemble (METHOD-5), T = 0
        # (SMIX-6), EOS; and naive SE proposing from an outside drafter.
        ("smix-we-g3-m0", _we(), SpeculativeMixture(3, "m0"), 8),
        ("smix-we-g1-m1", _we(), SpeculativeMixture(1, "m1"), 8),
        ("smix-we3-g2-outside-eos", _outside(_we(3, 3, eos_token_id=1)), SpeculativeMixture(2), 8),
        ("smix-we-greedy-g2-outside", _outside(_we(temperature=0)), SpeculativeMixture(2), 8),
        ("naive-we-g2-outside", _outside(_we()), NaiveSE(2, "t"), 8),
        # Proposals ended by a confidence stop (METHOD-6): from an outside drafter (NAIVE-5's extra token after
        # a draft that stopped early and was accepted), SE with a bonus that can end the scorer's turn, and
        # T = 0, where the confidence is read before the argmax. No confidence equals its threshold (a float
        # implementation may fall either side of such a tie, FAST-2's note; the replay test checks).
        ("naive-we-g4-outside-stop-0.47", _outside(_we()), NaiveSE(4, "t", confidence_threshold=Fraction(47, 100)),
         8),
        ("se-cd-g3-2-m0-stop-0.4", _cd(), SpeculativeEnsemble({"m0": 3, "m1": 2}, "m0", Fraction(2, 5)), 8),
        ("se-we-greedy-g3-3-m1-stop-0.57", _we(temperature=0), SpeculativeEnsemble({"m0": 3, "m1": 3}, "m1",
                                                                                  Fraction(57, 100)), 8),
    ] + processor_settings()


def processor_settings() -> list:
    """Vectors with logits processors and stop sequences (spec/15-processors.md): each processor, every
    mode, greedy and sampled, EOS lists, and blocks verified after the first cycle. VECTOR-5. Each has
    a prompt (the repetition penalty, n-grams and bad words read it, PROC-12), so a causal LM, which
    needs one (FAST-5), replays it with no extra token."""
    dense = dict(kind="logits", sparsity=0)

    def with_(ensemble, stops=(), **processors):
        return ensemble.with_(processors=Processors(**processors), stop_sequences=stops)

    return [
        ("se-we-g3-2-m0-repetition-frequency-eos", with_(_we(eos_token_id=2, prompt=(0,)), repetition_penalty=2,
                                                          frequency_penalty="1/2"), _se(3, 2, default="m0"), 8),
        ("naive-cd-g3-m0-ngram-presence-prompt", with_(_cd(prompt=(1,)), no_repeat_ngram_size=2, presence_penalty="1/2"),
         NaiveSE(3, "m0"), 8),
        ("standard-we-min-new-tokens-eos-list-bias", with_(_we(eos_token_id=(1, 3), prompt=(2,)), min_new_tokens=3,
                                                            logit_bias={"2": "-1/2"}), StandardEnsemble(), 8),
        ("se-we-logits-bad-words-stop-g2-1-m1", with_(_we(mode="logits", prompt=(2,), **dense), stops=((1, 0),),
                                                      bad_words_ids=[[2, 3]], repetition_penalty="3/2"),
         _se(2, 1, default="m1"), 8),
        ("se-we-T3/2-min-p-bias-g1-3-m0", with_(_we(temperature=Fraction(3, 2), prompt=(1, 3), **dense), min_p="1/5",
                                                logit_bias={"0": 1}), _se(1, 3, default="m0"), 8),
        ("se-cd-greedy-repetition-frequency-stop-g2-2-m1", with_(_cd(temperature=0, prompt=(3,)), stops=((2, 3),),
                                                                  repetition_penalty=3, frequency_penalty=1),
         _se(2, 2, default="m1"), 8),
        ("mixture-we-repetition-2-stop", with_(_we(prompt=(3,)), stops=((0, 1),), repetition_penalty=2),
         MixtureEnsemble(), 8),
    ]


def _outside(ensemble):
    """The ensemble with an outside drafter `t` of order 2 and cost 1/10 (METHOD-5)."""
    return ensemble.with_(drafter=random_member("t", ensemble.vocab_size, order=2, cost=Fraction(1, 10), seed=7))


def _uniforms(seed: int, count: int) -> list:
    """The first `count` uniforms of NumPy's Generator(PCG64(seed)).random(), as RNG-1 seeds them."""
    g = np.random.Generator(np.random.PCG64(seed))
    return [float(g.random()) for _ in range(count)]


def _ratio(x: float) -> float:
    """A verify event's ratio as written: 12 significant digits. VECTOR-3."""
    return float(f"{x:.{RATIO_DIGITS}g}")


def _expected(result) -> dict:
    trace = [dict(e, ratio=_ratio(e["ratio"])) if e["event"] == "verify" else dict(e) for e in result.trace]
    return {"tokens": list(result.tokens), "cost": str(result.cost), "calls": dict(sorted(result.calls.items())),
            "uniforms_used": result.uniforms_used, "trace": trace}


def build_vector(name: str, ensemble, method, length: int) -> dict:
    """One vector: the toy file and, per seed, the uniforms consumed and the reference's result. VECTOR-2."""
    runs = []
    for seed in SEEDS:
        probe = generate(ensemble, method, length, seed=seed)
        uniforms = _uniforms(seed, probe.uniforms_used)
        result = generate(ensemble, method, length, uniforms=uniforms)
        runs.append({"seed": seed, "uniforms": uniforms, "expected": _expected(result)})
    return {"format": FORMAT, "version": VERSION, "generator": f"specens {specens.__version__} reference",
            "name": name, "toy": dump_toy(ensemble, method, length), "runs": runs}


def _dump(obj) -> str:
    return json.dumps(obj, indent=1, ensure_ascii=True) + "\n"


def _file(name: str) -> str:
    return name.replace("/", "_") + ".json"


def build_vectors() -> dict:
    """{file name: file text} of every vector and of `index.json`. VECTOR-1, VECTOR-5."""
    files, index = {}, []
    for name, ensemble, method, length in settings():
        text = _dump(build_vector(name, ensemble, method, length))
        files[_file(name)] = text
        index.append({"file": _file(name), "name": name, "method": method.to_json()["name"],
                      "sha256": hashlib.sha256(text.encode()).hexdigest()})
    files["index.json"] = _dump({"format": INDEX_FORMAT, "version": VERSION,
                                 "generator": f"specens {specens.__version__} reference", "vectors": index})
    return files


def write_vectors(out) -> list:
    """Write every vector and the index into folder `out` (created if missing); returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in build_vectors().items():
        (out / name).write_text(text)
        paths.append(out / name)
    return paths


def compare_vectors(folder) -> list:
    """Differences between the vectors in `folder` and freshly built ones (empty: identical). VECTOR-6."""
    folder, fresh = Path(folder), build_vectors()
    problems = []
    for name, text in fresh.items():
        path = folder / name
        if not path.exists():
            problems.append(f"{name}: missing")
        elif path.read_text() != text:
            problems.append(f"{name}: differs from the reference's output")
    for path in sorted(folder.glob("*.json")):
        if path.name not in fresh:
            problems.append(f"{path.name}: not produced by the reference (stale?)")
    return problems


def check_header(vector: dict) -> None:
    """Refuse a vector of an unknown format or version. VECTOR-1."""
    if vector.get("format") != FORMAT:
        raise ValueError(f"format: expected {FORMAT!r}, got {vector.get('format')!r}")
    if vector.get("version") != VERSION:
        raise ValueError(f"version: this reader knows version {VERSION}, got {vector.get('version')!r}")


def _same_event(got: dict, want: dict) -> bool:
    if set(got) != set(want):
        return False
    for key, value in want.items():
        if key == "ratio":
            if not math.isclose(got[key], value, rel_tol=RATIO_RTOL, abs_tol=0.0):
                return False
        elif got[key] != value:
            return False
    return True


FULL = ("tokens", "uniforms_used", "cost", "trace")  # VECTOR-4: all of them


def replay_vector(vector: dict, run=None, *, compare=FULL) -> list:
    """Replay every stream of `vector`; returns the mismatches (empty: conforms). VECTOR-4.

    run(ensemble, method, max_new_tokens, uniforms) returns the run's outcome: an object with the
    attributes, or a mapping with the keys, that `compare` names (`tokens`, `uniforms_used`, and for
    `cost` also `calls`, for `trace` the TRACE-1 events), as `reference.generate`'s Result has; default:
    the reference itself. `compare` is VECTOR-4's list by default; an engine without specens' cost
    accounting and trace can be held to ("tokens", "uniforms_used"), the same tokens from the same
    uniforms, consuming as many (VECTOR-4's partial conformance). An exception raised by `run` (a
    stream run dry, say) is a mismatch naming its type, reported like any other.
    Raises ValueError for a `compare` naming something else, or a vector file that is not one (VECTOR-1).
    """
    unknown = [c for c in compare if c not in FULL] if not isinstance(compare, str) else [compare]
    if unknown or not compare:
        raise ValueError(f"compare: choose from {list(FULL)} (a tuple), got {compare!r}")
    check_header(vector)
    ensemble, method, length = load_toy(vector["toy"])
    run = run or (lambda e, m, n, uniforms: generate(e, m, n, uniforms=uniforms))
    problems = []
    for stream in vector["runs"]:
        want, tag = stream["expected"], f"{vector['name']} seed {stream['seed']}"
        try:
            got = run(ensemble, method, length, stream["uniforms"])
        except Exception as e:  # the run's failure is this stream's mismatch, reported, not raised
            problems.append(f"{tag}: raised {type(e).__name__}: {e}")
            continue

        def field(name, got=got):
            return got[name] if isinstance(got, Mapping) else getattr(got, name)

        try:
            if "tokens" in compare and list(field("tokens")) != want["tokens"]:
                problems.append(f"{tag}: tokens {list(field('tokens'))}, expected {want['tokens']}")
            if "uniforms_used" in compare and field("uniforms_used") != want["uniforms_used"]:
                problems.append(f"{tag}: used {field('uniforms_used')} uniforms, expected {want['uniforms_used']}")
            if "cost" in compare and (str(field("cost")) != want["cost"] or dict(field("calls")) != want["calls"]):
                problems.append(f"{tag}: cost {field('cost')} calls {dict(field('calls'))}, expected {want['cost']} "
                                f"{want['calls']}")
            if "trace" in compare:
                trace = list(field("trace"))
                for i, (g, w) in enumerate(zip(trace, want["trace"])):
                    if not _same_event(g, w):
                        problems.append(f"{tag}: trace event {i} is {g}, expected {w}")
                        break
                if len(trace) != len(want["trace"]):
                    problems.append(f"{tag}: trace has {len(trace)} events, expected {len(want['trace'])}")
        except (AttributeError, KeyError, TypeError) as e:
            problems.append(f"{tag}: the run's outcome lacks what compare={tuple(compare)} reads ({e!r}); return "
                            "an object or a mapping with those fields, or compare fewer")
    return problems
