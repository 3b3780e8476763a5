(* Verify.v: one accept-or-resample step is exact.

   The step: a token x is drawn from the proposal q; it is accepted with probability
   min(1, r x / q x); otherwise the emitted token is a fresh draw from the residual
   norm(max(0, r - q)).

   Results, in plain words:
   - q_mul_accept: q x times the acceptance probability of x is min(q x, r x).
   - acceptance_is_overlap (THM-ACCEPT): the probability that the step accepts its draw is
     sum_x min(q x, r x).
   - overlap_is_one_minus_tv (THM-ACCEPT): that overlap equals 1 - TV(q, r).
   - reject_prob_is_excess_mass (THM-VERIFY): the probability of rejection equals the residual
     mass sum_y max(0, r y - q y).
   - zero_residual_mass_iff_eq (THM-VERIFY): the residual mass is zero exactly when q = r.
   - reject_prob_zero_iff_eq (THM-VERIFY): rejection has probability zero exactly when q = r, so the
     replacement rule used when the residual mass is zero never matters.
   - verify_step_emits_r (THM-VERIFY): the emitted token has law r, for any distributions q and r
     and any replacement rule that draws from the normalised residual whenever its mass is positive.
   - verify_step_expect (THM-VERIFY): the same fact for expectations: for every payoff G,
     E[G(emitted token)] = sum_y r y G y.  The sequence-level proofs use this form. *)

From mathcomp Require Import all_ssreflect ssralg ssrnum.
From Specens Require Import Dist.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import Order.TTheory GRing.Theory Num.Theory.
Local Open Scope ring_scope.

Section Verify.
Variables (R : realFieldType) (T : finType).
Implicit Types (p q r res : T -> R) (x y : T).

(* Acceptance probability of a drawn token x.  For q x = 0 the token is never drawn, and the
   value there is irrelevant (it is multiplied by q x = 0); we take 1. *)
Definition accept_prob q r x := if q x == 0 then 1 else Num.min 1 (r x / q x).

(* Probability that the step accepts its draw, and that it rejects it. *)
Definition accept_total q r := \sum_x q x * accept_prob q r x.
Definition reject_prob q r := \sum_x q x * (1 - accept_prob q r x).

(* Probability that the step emits y: accept a draw equal to y, or reject any draw and then
   draw y from the replacement distribution res. *)
Definition emit_prob q r res y :=
  \sum_x q x * (accept_prob q r x * (x == y)%:R + (1 - accept_prob q r x) * res y).

(* The replacement rule must draw from the normalised residual whenever that has positive mass;
   where the mass is zero it may do anything. *)
Definition residual_rule q r res := 0 < excess_mass q r -> forall y, res y = residual q r y.

Lemma q_mul_accept q r x :
  0 <= q x -> 0 <= r x -> q x * accept_prob q r x = Num.min (q x) (r x).
Proof.
move=> q0 r0; rewrite /accept_prob; have [-> | qx0] := eqVneq (q x) 0.
  by rewrite mul0r min_l.
by rewrite minr_pmulr // mulr1 mulrCA divff // mulr1.
Qed.

(* THM-ACCEPT *)
Theorem acceptance_is_overlap q r :
  is_dist q -> is_dist r -> accept_total q r = overlap q r.
Proof.
move=> dq dr; apply: eq_bigr => x _.
by rewrite q_mul_accept ?dist_ge0.
Qed.

(* THM-ACCEPT *)
Theorem overlap_is_one_minus_tv q r :
  is_dist q -> is_dist r -> overlap q r = 1 - tv q r.
Proof.
move=> dq dr; rewrite /overlap /tv.
under eq_bigr do rewrite min_as_abs.
rewrite -mulr_suml sumrB big_split /= (dist_sum1 dq) (dist_sum1 dr).
by rewrite mulrBl -mulr2n mulfV ?pnatr_eq0 // [_ / 2]mulrC.
Qed.

(* THM-VERIFY *)
Lemma reject_prob_is_excess_mass q r :
  is_dist q -> is_dist r -> reject_prob q r = excess_mass q r.
Proof.
move=> dq dr; rewrite /reject_prob.
under eq_bigr do rewrite mulrBr mulr1.
rewrite sumrB dist_sum1 //.
have -> : \sum_x q x * accept_prob q r x = overlap q r by exact: acceptance_is_overlap.
by rewrite -(overlap_add_excess_mass q dr) addrC addKr.
Qed.

(* The pointwise identity behind the step:
   min(q y, r y) + P(reject) * res y = r y. *)
Lemma step_identity q r res y :
  is_dist q -> is_dist r -> residual_rule q r res ->
  Num.min (q y) (r y) + reject_prob q r * res y = r y.
Proof.
move=> dq dr hres; rewrite reject_prob_is_excess_mass //.
have [pos | ] := ltP 0 (excess_mass q r).
  rewrite hres // /residual mulrCA divff ?gt_eqF // mulr1.
  exact: min_add_excess.
rewrite le_eqVlt ltNge excess_mass_ge0 orbF => /eqP m0.
rewrite m0 mul0r addr0.
have /eqP := m0; rewrite psumr_eq0 /=; last by move=> x _; apply: excess_ge0.
move=> /allP /(_ y (mem_index_enum y)) /= /eqP ex0.
by rewrite -[RHS](min_add_excess (q y)) -/(excess q r y) ex0 addr0.
Qed.

Lemma emit_prob_split q r res y :
  is_dist q -> is_dist r ->
  emit_prob q r res y = Num.min (q y) (r y) + reject_prob q r * res y.
Proof.
move=> dq dr; rewrite /emit_prob.
under eq_bigr do rewrite mulrDr mulrA [q _ * (_ * res y)]mulrA.
rewrite big_split /= -mulr_suml; congr (_ + _).
rewrite (bigD1 y) //= eqxx mulr1 q_mul_accept ?dist_ge0 // big1 ?addr0 //.
by move=> x /negbTE ->; rewrite mulr0.
Qed.

(* THM-VERIFY *)
Theorem verify_step_emits_r q r res :
  is_dist q -> is_dist r -> residual_rule q r res ->
  forall y, emit_prob q r res y = r y.
Proof.
by move=> dq dr hres y; rewrite emit_prob_split // step_identity.
Qed.

(* THM-VERIFY *)
Theorem zero_residual_mass_iff_eq q r :
  is_dist q -> is_dist r -> (excess_mass q r = 0 <-> forall x, q x = r x).
Proof.
move=> dq dr; split=> [m0 x | eqqr]; last first.
  by apply: big1 => x _; rewrite /excess eqqr subrr maxxx.
have ex0 y : excess q r y = 0.
  have /eqP := m0; rewrite psumr_eq0 /=; last by move=> z _; apply: excess_ge0.
  by move=> /allP /(_ y (mem_index_enum y)) /eqP.
have rle y : r y <= q y.
  by rewrite -subr_le0 -(ex0 y) /excess le_maxr lexx orbT.
have sum0 : \sum_y (q y - r y) = 0 by rewrite sumrB !dist_sum1 // subrr.
have /eqP := sum0; rewrite psumr_eq0 /=; last by move=> y _; rewrite subr_ge0.
by move=> /allP /(_ x (mem_index_enum x)) /eqP /subr0_eq.
Qed.

(* THM-VERIFY *)
Theorem reject_prob_zero_iff_eq q r :
  is_dist q -> is_dist r -> (reject_prob q r = 0 <-> forall x, q x = r x).
Proof.
by move=> dq dr; rewrite reject_prob_is_excess_mass //; apply: zero_residual_mass_iff_eq.
Qed.

(* THM-VERIFY, expectation form: for any payoff G of the emitted token,
   E[G] = sum_x q x (acc x G x + (1 - acc x) sum_y res y G y) = sum_y r y G y. *)
Theorem verify_step_expect q r res (G : T -> R) :
  is_dist q -> is_dist r -> residual_rule q r res ->
  \sum_x q x * (accept_prob q r x * G x + (1 - accept_prob q r x) * \sum_y res y * G y)
  = \sum_y r y * G y.
Proof.
move=> dq dr hres.
under eq_bigr do rewrite mulrDr mulrA mulrA.
rewrite big_split /= -mulr_suml -/(reject_prob q r) mulr_sumr -big_split /=.
apply: eq_bigr => y _.
by rewrite q_mul_accept ?dist_ge0 // mulrA -mulrDl step_identity.
Qed.

End Verify.
