"""The torch fast path (`specens.api.generate`) replays the golden vectors (VECTOR-4).

Each toy member becomes a torch causal LM with a real KV cache (`specens.coupling.ToyLM`), in
float64. The fast path needs a non-empty prompt while some vectors' prompt is empty, so for those the
fast run gets one extra token before the (empty) prompt and each member reads its context without
it (`AfterPrompt`): the same law, the same positions. Vectors with a prompt run as they are, since
processors that read the history read the prompt too (PROC-12); every processor vector has one.
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


def takes_processors() -> bool:
    """Whether the fast path's Ensemble takes logits processors and stop sequences (PROC-1, STOP-2)."""
    import inspect

    params = inspect.signature(Ensemble).parameters
    return "processors" in params and "stop_sequences" in params


def fast_run(ensemble, method, length, uniforms):
    extra_token = not ensemble.prompt  # FAST-5: a causal LM needs at least one prompt token
    members = [Member(ToyLM(AfterPrompt(m) if extra_token else m), name=m.name, cost=m.cost)
               for m in ensemble.members]
    extra = {}
    if ensemble.processors.active or ensemble.stop_sequences:
        extra = dict(processors=ensemble.processors, stop_sequences=[list(s) for s in ensemble.stop_sequences])
    fast = Ensemble(members, ensemble.combination, mode=ensemble.mode, sampling=ensemble.sampling,
                    eos_token_id=list(ensemble.eos_token_id) or None, vocab_size=ensemble.vocab_size, dtype="float64",
                    **extra)
    prompt = [0] if extra_token else list(ensemble.prompt)
    return generate(fast, prompt, max_new_tokens=length, method=method, uniforms=list(uniforms), trace=True)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_the_fast_path_replays_every_run_of_the_vector(path):
    """VECTOR-4, TRACE-1, RNG-1: tokens, cost, calls, uniforms consumed and trace equal the reference's."""
    toy = json.loads(path.read_text())["toy"]["ensemble"]
    if ("processors" in toy or "stop_sequences" in toy) and not takes_processors():
        pytest.skip("the fast path's Ensemble does not take processors= and stop_sequences= yet (PROC-1)")
    problems = replay_vector(json.loads(path.read_text()), fast_run)
    assert not problems, "\n".join(problems)
