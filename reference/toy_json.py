"""Reading a toy file's JSON (spec/09-toy-format.md): its structure checked, errors naming the JSON path.

`read_toy(obj)` turns a parsed toy file into (ensemble, method, max_new_tokens). Every malformed
part is refused with one line that starts with its path in the file, such as
`ensemble.members[1].probs["0,x"]: ...`, never with a KeyError or an AttributeError.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

from .combine import combination_from_json
from .numbers import as_float, as_fraction, json_loads
from .transforms import Sampling, Scores

FORMAT = "specens/toy-ensemble"
VERSION = 1


def is_int(value) -> bool:
    """A JSON integer: an int that is not a bool (true is not 1 here). TOY-1."""
    return isinstance(value, int) and not isinstance(value, bool)


def _show(value) -> str:
    return json.dumps(value, default=str)[:60]


def _object(value, path: str, example: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise ValueError(f"{path}: expected a JSON object such as {example}, got {_show(value)}")
    return value


def _under(path: str, build, *args):
    """Call a constructor, prefixing its error (which names a field) with the JSON path of the object."""
    try:
        return build(*args)
    except ValueError as e:
        raise ValueError(f"{path}.{e}") from None


def read_toy_file(path) -> Mapping:
    """A toy file's parsed JSON, decimals kept as written (NUM-1); unreadable files name the path. TOY-1."""
    try:
        return json_loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ValueError(f"{path}: cannot read the toy file ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text (byte {e.start}); a toy file is UTF-8 JSON") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None


def context_key(key: str, path: str) -> tuple | None:
    """A row key: "*" (None, the default row), "" (the empty context) or comma-separated token ids. TOY-2."""
    if key == "*":
        return None
    parts = [] if key.strip() == "" else key.split(",")
    if not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"{path}: row key {key!r} is not a context (token ids are non-negative integers); write comma-separated token ids such as "
                         "\"0,2\", \"\" for the empty context, or \"*\" for the default row")
    return tuple(int(p) for p in parts)


def read_row(values, *, kind: str, path: str) -> Scores:
    """One row: probabilities (exact, summing to 1) or logits (float64 numbers or "-inf"). TOY-2, NUM-1."""
    if not isinstance(values, list) or not values:
        raise ValueError(f"{path}: a row is a non-empty JSON array of numbers, got {_show(values)}")
    if kind == "probs":
        probs = tuple(as_fraction(v, name=path) for v in values)
        if any(p < 0 for p in probs) or sum(probs) != 1:
            raise ValueError(f"{path}: the row's probabilities must be non-negative and sum to exactly 1, "
                             f"got {[str(p) for p in probs]}")
        return Scores(probs=probs)
    logits = [float("-inf") if isinstance(v, str) and v.strip() == "-inf" else as_float(v, name=path) for v in values]
    return _under(path, lambda: Scores(logits=logits))


def read_member(obj, path: str):
    """One member object of `ensemble.members`. TOY-2."""
    from .toy import ToyMember

    obj = _object(obj, path, '{"name": "a", "order": 1, "probs": {"*": ["1/2", "1/2"]}}')
    name, order = obj.get("name"), obj.get("order", 1)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{path}.name: a member needs a non-empty string name, got {_show(name)}")
    if not is_int(order) or order < 0:
        raise ValueError(f"{path}.order: must be a non-negative integer, got {_show(order)}")
    kinds = [k for k in ("probs", "logits") if k in obj]
    if len(kinds) != 1:
        raise ValueError(f"{path}: give exactly one of \"probs\" or \"logits\" (member {name!r})")
    kind = kinds[0]
    rows = _object(obj[kind], f"{path}.{kind}", '{"*": ["1/2", "1/2"]}')
    if not rows:
        raise ValueError(f"{path}.{kind}: member {name!r} has no rows; give at least the default row \"*\"")
    table = {}
    for key, values in rows.items():
        row_path = f"{path}.{kind}[{json.dumps(key)}]"
        context = context_key(key, f"{row_path} of member {name!r}")
        if context in table:
            raise ValueError(f"{row_path}: the same context as another row of member {name!r}")
        table[context] = read_row(values, kind=kind, path=row_path)
    sizes = sorted({s.vocab_size for s in table.values()})
    if len(sizes) != 1:
        raise ValueError(f"{path}.{kind}: rows of member {name!r} have different lengths {sizes}; every row has V entries")
    for context in (c for c in table if c is not None):
        row_path = f"{path}.{kind}[{json.dumps(','.join(map(str, context)))}]"
        if len(context) > order:
            raise ValueError(f"{row_path}: the key has {len(context)} token ids but member {name!r} has order "
                             f"{order}, so it reads at most {order}; drop the row or raise the order")
        if any(t >= sizes[0] for t in context):
            raise ValueError(f"{row_path}: token ids of member {name!r} lie in 0..{sizes[0] - 1}")
    cost = as_fraction(obj.get("cost", 1), name=f"{path}.cost")
    if cost <= 0:
        raise ValueError(f"{path}.cost: must be positive, got {cost}")
    return ToyMember(name=name, table=table, order=order, cost=cost)


def read_combination(obj, path: str):
    """The combination object. TOY-3."""
    obj = _object(obj, path, '{"kind": "we", "weights": {"a": 1, "b": 2}}')
    needs = {"we": ("weights",), "cd": ("expert", "amateur"), "linear": ("coefficients",)}
    kind = obj.get("kind")
    if kind not in needs:
        raise ValueError(f"{path}.kind: must be \"we\", \"cd\" or \"linear\", got {_show(kind)}")
    for key in needs[kind]:
        if key not in obj:
            raise ValueError(f"{path}.{key}: missing; a {kind!r} combination needs {' and '.join(needs[kind])}")
    return _under(path, combination_from_json, obj)


def read_processors(obj, path: str):
    """The `processors` object (every setting optional); errors name the setting's JSON path. TOY-6, PROC-1."""
    from .processors import Processors

    obj = _object(obj, path, '{"repetition_penalty": "3/2", "min_new_tokens": 2} (or leave it out)')
    known = sorted(Processors.__dataclass_fields__)
    for key, value in obj.items():
        if key not in known:
            raise ValueError(f"{path}.{key}: unknown setting; the settings are {', '.join(known)}")
        if key in ("no_repeat_ngram_size", "min_new_tokens") and not is_int(value):
            raise ValueError(f"{path}.{key}: expected a non-negative JSON integer, got {_show(value)}")
    bias = obj.get("logit_bias", {})
    _object(bias, f"{path}.logit_bias", '{"3": "-1/2"}')
    for key in bias:
        if not key.isdigit():
            raise ValueError(f"{path}.logit_bias[{json.dumps(key)}]: keys are token ids written as decimal strings")
    words = obj.get("bad_words_ids", [])
    if not isinstance(words, list) or not all(isinstance(w, list) and all(is_int(t) for t in w) for w in words):
        raise ValueError(f"{path}.bad_words_ids: expected an array of arrays of token ids such as [[1, 2]], "
                         f"got {_show(words)}")
    return _under(path, lambda: Processors(**obj))


def read_stop_sequences(value, path: str) -> tuple:
    """The `stop_sequences` array: arrays of token ids (the ids are checked by the ensemble). TOY-6, STOP-2."""
    if not isinstance(value, list):
        raise ValueError(f"{path}: expected an array of arrays of token ids such as [[2, 1]], got {_show(value)}")
    for i, seq in enumerate(value):
        if not isinstance(seq, list) or not seq or not all(is_int(t) for t in seq):
            raise ValueError(f"{path}[{i}]: expected a non-empty array of integer token ids, got {_show(seq)}")
    return tuple(tuple(seq) for seq in value)


def read_sampling(obj, path: str) -> Sampling:
    """The sampling object (all keys optional). TOY-1, TRANSFORM-1."""
    obj = _object(obj, path, '{"temperature": "1", "top_k": null, "top_p": null} (or leave it out)')
    return _under(path, lambda: Sampling(temperature=obj.get("temperature", 1), top_k=obj.get("top_k"),
                                         top_p=obj.get("top_p")))


def read_ensemble(obj, path: str = "ensemble"):
    """The `ensemble` object of a toy file. TOY-1."""
    from .toy import Ensemble

    obj = _object(obj, path, '{"members": [...], "combination": {...}}')
    members = obj.get("members")
    if not isinstance(members, list) or not members:
        raise ValueError(f"{path}.members: expected a non-empty JSON array of member objects, got {_show(members)}")
    if "combination" not in obj:
        raise ValueError(f"{path}.combination: missing; e.g. {{\"kind\": \"we\", \"weights\": {{\"a\": 1}}}}")
    prompt = obj.get("prompt", [])
    if not isinstance(prompt, list) or not all(is_int(t) for t in prompt):
        raise ValueError(f"{path}.prompt: expected a JSON array of integer token ids (or leave it out), got {_show(prompt)}")
    mode = obj.get("mode")
    if mode is not None and not isinstance(mode, str):
        raise ValueError(f"{path}.mode: expected \"probs\", \"logits\" or \"raw-logits\" (or leave it out), got {_show(mode)}")
    members = tuple(read_member(m, f"{path}.members[{i}]") for i, m in enumerate(members))
    combination = read_combination(obj["combination"], f"{path}.combination")
    sampling = read_sampling(obj.get("sampling", {}), f"{path}.sampling")
    drafter = obj.get("drafter")  # TOY-7: the outside drafter, a member object outside the combination
    drafter = None if drafter is None else read_member(drafter, f"{path}.drafter")
    processors = read_processors(obj.get("processors", {}), f"{path}.processors")
    stops = read_stop_sequences(obj.get("stop_sequences", []), f"{path}.stop_sequences")

    def build():
        try:
            return Ensemble(members=members, combination=combination, mode=mode, sampling=sampling,
                            eos_token_id=obj.get("eos_token_id"), prompt=tuple(prompt), drafter=drafter,
                            processors=processors, stop_sequences=stops)
        except ValueError as e:  # the processors' checks against the vocabulary and the EOS ids (PROC-1)
            known = ("logit_bias", "bad_words_ids", "min_new_tokens")
            raise ValueError(f"processors.{e}" if str(e).startswith(known) else str(e)) from None

    return _under(path, build)


def read_toy(obj) -> tuple:
    """(ensemble, method, max_new_tokens) of a parsed toy file. TOY-1, TOY-4."""
    from .methods import method_from_json

    obj = _object(obj, "toy file", '{"format": "specens/toy-ensemble", "version": 1, "ensemble": {...}}')
    if obj.get("format") != FORMAT:
        hint = ("; a conformance vector holds its toy file under its \"toy\" key (VECTOR-1): write that part to "
                "a file of its own" if obj.get("format") == "specens/conformance-vector" else "")
        raise ValueError(f"format: expected {FORMAT!r}, got {obj.get('format')!r}{hint}")
    if obj.get("version") != VERSION:
        raise ValueError(f"version: this reader knows version {VERSION}, got {obj.get('version')!r}")
    if "ensemble" not in obj:
        raise ValueError("ensemble: missing; a toy file needs an \"ensemble\" object (spec/09-toy-format.md)")
    length = obj.get("max_new_tokens", 4)
    if not is_int(length) or length < 1:
        raise ValueError(f"max_new_tokens: must be a positive integer, got {_show(length)}")
    ensemble = read_ensemble(obj["ensemble"])
    _under("ensemble.processors", ensemble.processors.check, ensemble.vocab_size, ensemble.eos_token_id, length)
    method = _object(obj.get("method", {"name": "standard"}), "method", '{"name": "se", "gammas": {"a": 3, "b": 1}}')
    try:
        method = method_from_json(method, ensemble)
    except ValueError as e:
        raise ValueError(str(e) if str(e).startswith("method") else f"method.{e}") from None
    return ensemble, method, length
