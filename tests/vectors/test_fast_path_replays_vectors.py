"""The torch fast path (`specens.api.generate`) replays the golden vectors (VECTOR-4).

Each toy member becomes a torch causal LM with a real KV cache (`specens.coupling.ToyLM`), in
float64. The fast path needs a non-empty prompt while the vectors' prompt is empty, so each member
reads its context without the one prompt token (`AfterPrompt`): the same law, the same positions.
"""

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from specens.api import Ensemble, generate  # noqa: E402
from specens.coupling import ToyLM  # noqa: E402
from specens.members import Member  # noqa: E402
from specens.oracle.vectors import replay_vector  # noqa: E402

GOLDEN = Path(__file__).parent / "golden"
FILES = sorted(p for p in GOLDEN.glob("*.json") if p.name != "index.json")

# A float implementation cannot see an exact rational tie at the top-p cut: member m1's first row is
# (1/5, 0, 3/10, 1/2) and 1/2 + 3/10 = 4/5 = top_p exactly, so TRANSFORM-4 keeps two tokens, while the
# fast path's float sum falls short of 0.8 and keeps three (a different r, not a rounding of u).
TOP_P_TIE = "se-we-topp-g4-1-m1"


class AfterPrompt:
    """A toy member that ignores the first token of every context (the one-token prompt)."""

    def __init__(self, toy):
        self.toy, self.vocab_size, self.name = toy, toy.vocab_size, toy.name

    def scores(self, context):
        return self.toy.scores(tuple(context)[1:])


def fast_run(ensemble, method, length, uniforms):
    members = [Member(ToyLM(AfterPrompt(m)), name=m.name, cost=m.cost) for m in ensemble.members]
    fast = Ensemble(members, ensemble.combination, mode=ensemble.mode, sampling=ensemble.sampling,
                    eos_token_id=ensemble.eos_token_id, vocab_size=ensemble.vocab_size, dtype="float64")
    return generate(fast, [0], max_new_tokens=length, method=method, uniforms=list(uniforms), trace=True)


@pytest.mark.parametrize("path", [
    pytest.param(p, marks=pytest.mark.xfail(strict=True, reason="exact top-p tie; see TOP_P_TIE"))
    if p.stem == TOP_P_TIE else p for p in FILES], ids=lambda p: p.stem)
def test_the_fast_path_replays_every_run_of_the_vector(path):
    """VECTOR-4, TRACE-1, RNG-1: tokens, cost, calls, uniforms consumed and trace equal the reference's."""
    problems = replay_vector(json.loads(path.read_text()), fast_run)
    assert not problems, "\n".join(problems)
