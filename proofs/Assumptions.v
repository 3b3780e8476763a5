(* Assumptions.v: print the axioms each main theorem depends on.

   Building this file makes Coq list, for every main theorem, the global assumptions its proof
   uses.  proofs/README.md records the output. *)

From mathcomp Require Import all_ssreflect ssralg ssrnum.
From Specens Require Import Dist Verify WeightedEnsemble Cost Sequence Mixture.

Print Assumptions verify_step_emits_r.
Print Assumptions verify_step_expect.
Print Assumptions zero_residual_mass_iff_eq.
Print Assumptions reject_prob_zero_iff_eq.
Print Assumptions reject_prob_is_excess_mass.
Print Assumptions acceptance_is_overlap.
Print Assumptions overlap_is_one_minus_tv.
Print Assumptions we_acceptance_ge_lambda.
Print Assumptions we_acceptance_eq_lambda_iff_disjoint.
Print Assumptions we_best_proposer_acceptance_ge_half.
Print Assumptions we_residual_is_sd_residual.
Print Assumptions we_residual_normalised_eq.
Print Assumptions we_acceptance_closed_form.
Print Assumptions tokens_law_sum1.
Print Assumptions tokens_tail.
Print Assumptions expectation_is_tail_sum.
Print Assumptions expected_tokens_sum_pow.
Print Assumptions expected_tokens_truncated_geometric.
Print Assumptions expected_tokens_alpha_one.
Print Assumptions alt_speedup_gamma_one.
Print Assumptions never_slower_gamma_one.
Print Assumptions never_slower_eq_iff.
Print Assumptions speedup_gamma_two_gt1_iff.
Print Assumptions speedup_naive_law_eq.
Print Assumptions speedup_gamma_one_is_one.
Print Assumptions speedup_gamma_two_ge1_iff.
Print Assumptions we_paying_proposer_never_slower.
Print Assumptions we_some_proposer_never_slower.
Print Assumptions we_heavier_cheaper_proposer_never_slower.
Print Assumptions round_emits_ensemble_sequence.
Print Assumptions round_first_token_is_r.
Print Assumptions eager_round_eq_lazy_round.
Print Assumptions naive_round_emits_ensemble_sequence.
Print Assumptions decode_emits_ensemble_sequence.
Print Assumptions alternate_decode_emits_ensemble_sequence.
Print Assumptions naive_decode_emits_ensemble_sequence.
Print Assumptions rounds_emit_ensemble_sequence.
Print Assumptions eager_rounds_emit_ensemble_sequence.
Print Assumptions alternate_eager_rounds_emit_ensemble_sequence.

(* The statements as Coq sees them after their sections close. *)
Check verify_step_emits_r.
Check round_emits_ensemble_sequence.
Check decode_emits_ensemble_sequence.
Check alternate_decode_emits_ensemble_sequence.
Check we_some_proposer_never_slower.
Print Assumptions mixture_of_exact_steps_emits_mixture.
Print Assumptions speculative_mixture_step_emits_r.
