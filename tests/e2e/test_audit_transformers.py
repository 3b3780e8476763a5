"""The CI-sized audit of transformers' speculative sampling on the conformance kit (ORACLE-11).

Lossless speculative sampling (`generate(assistant_model=draft, do_sample=True)`, constant draft
length 3, no confidence stop) is consistent with the kit laws of two settings, and the same check
rejects transformers with a defect planted in its verification (`_speculative_sampling` patched to
draw a rejected position from the target instead of the residual [p - q]+).

Budget: 1,200 sequences per lossless setting detect a TV bias of 0.1 with power 0.9 at alpha 0.001
on sd-top-p and sd-eos (the check says INCONCLUSIVE otherwise, and the test fails); the planted
defect moves sd-top-p by TV 0.20 (exact, `transformers_law`), which 400 samples reject with
probability above 0.99. 35 to 50 s on one core: transformers' generate takes 10 to 15 ms a sequence.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from specens.oracle import assert_sampler_exact, power_against  # noqa: E402
from specens.oracle.kit import write_kit  # noqa: E402
from specens.reference import exact_ensemble_pmf, load_toy  # noqa: E402
from specens.reference.toy_json import read_toy_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("audit_transformers", ROOT / "scripts" / "audit_transformers.py")
audit = sys.modules.setdefault("audit_transformers", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(audit)

TARGET_TV = 0.1  # the bias 1,200 samples can see on these two laws (ORACLE-4)
ROWS = {row.law: row for row in audit.ROWS if row.name.endswith("/gamma3")}  # constant length 3, no confidence stop


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    out = tmp_path_factory.mktemp("kit") / "kit"
    with torch.random.fork_rng():
        write_kit(out, precision=False)
    return out


@pytest.fixture(scope="module")
def models(kit):
    torch.set_num_threads(1)
    return audit.load_models(kit)


def sampler(kit, models, law):
    prompt, length, _ = audit.law_setting(kit, law)
    return lambda n, seed: audit.sample_row(models, ROWS[law], prompt, length, n, seed)


def resample_from_target(candidate_input_ids, candidate_logits, candidate_length, new_logits,
                         assistant_ensemble_weight=None):
    """transformers' `_speculative_sampling` with one planted defect: a rejected position draws from p, not [p - q]+."""
    drafted = candidate_input_ids[:, -candidate_length:]  # (1, K)
    q, p = candidate_logits.softmax(dim=-1), new_logits.softmax(dim=-1)  # (1, K, V), (1, K + 1, V)
    positions = torch.arange(candidate_length)
    ratio = p[0, positions, drafted[0]] / q[0, positions, drafted[0]]  # (K,)
    kept = int(((~(torch.rand_like(ratio) <= ratio)).cumsum(dim=-1) < 1).sum())
    last = torch.multinomial(p[:, kept, :], num_samples=1)  # (1, 1): the defect, p instead of [p - q]+ normalised
    return torch.cat((drafted[:, :kept], last), dim=-1), torch.tensor(kept)


def test_transformers_law_of_lossless_speculative_sampling_is_the_targets_law(kit):
    """ORACLE-11: the exact law of transformers' code path (constant draft length, any gamma) is the kit law."""
    for law in ("sd-top-p", "sd-eos"):
        file = kit / "laws" / f"{law}.json"
        ensemble, _, length = load_toy(read_toy_file(file))
        exact = exact_ensemble_pmf(ensemble, length)
        for gamma in (1, 3):
            assert audit.law_tv(audit.transformers_law(file, gamma=gamma), exact) < 1e-12  # float64 sums of 10-30 terms
        assert audit.law_tv(audit.transformers_law(file, gamma=3, defect="resample-target"), exact) > 0.15


def test_transformers_static_ensemble_code_path_is_not_the_we_law_it_claims(kit):
    """ORACLE-11: with assistant_ensemble_weight the kept drafts follow w p + (1 - w) q, yet bonus tokens
    and the never-drafted last token follow p: the law depends on the draft length and is not the WE law."""
    file = kit / "laws" / "we-llama.json"
    ensemble, _, length = load_toy(read_toy_file(file))
    we = exact_ensemble_pmf(ensemble, length)
    laws = {gamma: audit.transformers_law(file, gamma=gamma, weight=0.5) for gamma in (1, 3, 5)}
    assert all(abs(sum(law.values()) - 1) < 1e-12 for law in laws.values())
    assert audit.law_tv(laws[1], we) > 0.5 and audit.law_tv(laws[3], we) > 0.3
    assert audit.law_tv(laws[3], laws[5]) < 1e-12  # L = 4: at most 3 positions are ever drafted
    assert audit.law_tv(laws[1], laws[3]) > 0.1


@pytest.mark.parametrize("law", ["sd-top-p", "sd-eos"])
def test_transformers_speculative_sampling_is_consistent_with_the_kit_law(kit, models, law):
    """ORACLE-11: lossless speculative sampling in transformers passes the check, powered for TV 0.1."""
    report = assert_sampler_exact(sampler(kit, models, law), kit / "laws" / f"{law}.json", samples=1200,
                                  seed=1, target_tv=TARGET_TV)
    assert report.verdict == "CONSISTENT"


def test_a_defect_planted_in_transformers_verification_is_rejected(kit, models, monkeypatch):
    """ORACLE-11 negative control: resampling a rejected position from p is rejected by the same check."""
    import numpy as np
    import transformers.generation.utils as hf_generation

    file = kit / "laws" / "sd-top-p.json"
    ensemble, _, length = load_toy(read_toy_file(file))
    exact = exact_ensemble_pmf(ensemble, length)
    planted = audit.transformers_law(file, gamma=3, defect="resample-target")
    keys = sorted(set(exact) | set(planted))
    probs = np.array([float(exact.get(k, 0)) for k in keys])
    assert power_against(probs, np.array([planted.get(k, 0.0) for k in keys]), 400, alpha=0.001, tests=10) > 0.99
    monkeypatch.setattr(hf_generation, "_speculative_sampling", resample_from_target)
    with pytest.raises(AssertionError, match="REJECTED"):
        assert_sampler_exact(sampler(kit, models, "sd-top-p"), file, samples=400, seed=2, target_tv=TARGET_TV)
