(* Mixture.v: a mixture of exact steps over an independently chosen index emits the mixture.

   The speculative mixture (SMIX-1) decides each position's token by first choosing a member
   k ~ Cat(w), independently of everything drawn so far, and then running a step that emits
   exactly p_k: a verification step of the drafted token (law p_d) against p_k, or, when the
   drafter d is itself the chosen member, the drafted token as it is.

   Results, in plain words:
   - mixture_of_exact_steps_emits_mixture (THM-SMIX): if the index k is chosen with
     non-negative weights w and, for every k of positive weight, step k emits token y with
     probability p_k y, then the emitted token has law sum_k w k * p_k y.
   - speculative_mixture_step_emits_r (THM-SMIX): one position of the speculative mixture, with
     a drafted token of law p_d, emits sum_k w k * p_k y: for k = d the drafted token itself
     (p_d = p_k), for any other k one accept-or-resample step against p_k (verify_step_emits_r).
     With a drafter outside the ensemble, no index is the drafter (d = None).

   Setting: as Dist.v, plus a finite index type I of members.  The choice is independent of the
   drafted token, so the joint probability of (k, y) is w k times step k's probability of y. *)

From mathcomp Require Import all_ssreflect ssralg ssrnum.
From Specens Require Import Dist Verify.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import Order.TTheory GRing.Theory Num.Theory.
Local Open Scope ring_scope.

Section Mixture.
Variables (R : realFieldType) (T : finType) (I : finType).
Implicit Types (w : I -> R) (E P res : I -> T -> R) (pd : T -> R) (y : T).

(* The law of the emitted token: choose k with weight w k, then step k emits y with E k y. *)
Definition mixture_emit w E y := \sum_k w k * E k y.

(* THM-SMIX *)
Theorem mixture_of_exact_steps_emits_mixture w E P :
  (forall k, 0 <= w k) -> (forall k, 0 < w k -> forall y, E k y = P k y) ->
  forall y, mixture_emit w E y = \sum_k w k * P k y.
Proof.
move=> w0 exact y; apply: eq_bigr => k _.
have [wk0 | wkn0] := eqVneq (w k) 0; first by rewrite wk0 !mul0r.
by rewrite exact // lt_def wkn0 w0.
Qed.

(* One position of the speculative mixture when member k is chosen: the drafted token itself when
   k is the drafter, else the verification step of the drafted token (law pd) against p_k, with
   the replacement rule res k. *)
Definition smix_step (d : option I) pd P res k y :=
  if d == Some k then pd y else emit_prob pd (P k) (res k) y.

(* THM-SMIX *)
Theorem speculative_mixture_step_emits_r w (d : option I) pd P res :
  (forall k, 0 <= w k) -> is_dist pd -> (forall k, is_dist (P k)) ->
  (forall k, residual_rule pd (P k) (res k)) ->
  (forall k, d = Some k -> forall y, P k y = pd y) ->
  forall y, mixture_emit w (smix_step d pd P res) y = \sum_k w k * P k y.
Proof.
move=> w0 dpd dP hres hd; apply: mixture_of_exact_steps_emits_mixture => // k _ y.
rewrite /smix_step; case: eqP => [dk | _].
  by rewrite (hd k dk).
exact: verify_step_emits_r.
Qed.

End Mixture.
