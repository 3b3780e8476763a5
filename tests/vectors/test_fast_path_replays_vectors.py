"""The torch fast path (`specens.api.generate`) replays the golden vectors (VECTOR-4).

Each toy member becomes a torch causal LM with a real KV cache (`specens.coupling.ToyLM`), in
float64. The fast path needs a non-empty prompt while some vectors' prompt is empty, so the fast run
gets one extra token before the vector's prompt and each member reads its context without it
(`AfterPrompt`): the same law, the same positions.
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



class AfterPrompt:
    """A toy member that ignores the first token of every context (the extra prompt token)."""

    def __init__(self, toy):
        self.toy, self.vocab_size, self.name = toy, toy.vocab_size, toy.name

    def scores(self, context):
        return self.toy.scores(tuple(context)[1:])


def fast_run(ensemble, method, length, uniforms):
    members = [Member(ToyLM(AfterPrompt(m)), name=m.name, cost=m.cost) for m in ensemble.models]
    drafter = members.pop() if ensemble.drafter is not None else None  # METHOD-5: the outside drafter
    fast = Ensemble(members, ensemble.combination, mode=ensemble.mode, sampling=ensemble.sampling,
                    eos_token_id=list(ensemble.eos_token_id) or None, vocab_size=ensemble.vocab_size, dtype="float64",
                    drafter=drafter)
    return generate(fast, [0, *ensemble.prompt], max_new_tokens=length, method=method, uniforms=list(uniforms),
                    trace=True)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_the_fast_path_replays_every_run_of_the_vector(path):
    """VECTOR-4, TRACE-1, RNG-1: tokens, cost, calls, uniforms consumed and trace equal the reference's."""
    problems = replay_vector(json.loads(path.read_text()), fast_run)
    assert not problems, "\n".join(problems)
