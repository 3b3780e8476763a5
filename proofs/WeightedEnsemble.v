(* WeightedEnsemble.v: the weighted ensemble r = lambda q + (1 - lambda) p.

   Here q is the proposer's distribution and p the other member's, lambda the proposer's weight.

   Results, in plain words:
   - we_mix_is_dist: for 0 <= lambda <= 1 the mixture is a distribution.
   - we_acceptance_ge_lambda (THM-3.2): the acceptance probability sum_x min(q x, r x) is at
     least lambda.
   - we_acceptance_eq_lambda_iff_disjoint (THM-3.2): for lambda < 1 it equals lambda exactly when
     p and q have disjoint supports (at every x, q x = 0 or p x = 0).
   - we_best_proposer_acceptance_ge_half (COR-3.3): proposing with the better of the two members
     gives acceptance at least max(lambda, 1 - lambda), which is at least 1/2.
   - we_residual_is_sd_residual (THM-WE-RESIDUAL): pointwise,
     max(0, r - q) = (1 - lambda) max(0, p - q).
   - we_residual_normalised_eq (THM-WE-RESIDUAL): for lambda < 1 the normalised residuals
     norm(max(0, r - q)) and norm(max(0, p - q)) coincide.
   - we_acceptance_closed_form (THM-3.2, THM-WE-RESIDUAL): the acceptance probability equals
     1 - (1 - lambda) TV(p, q). *)

From mathcomp Require Import all_ssreflect ssralg ssrnum.
From Specens Require Import Dist Verify.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import Order.TTheory GRing.Theory Num.Theory.
Local Open Scope ring_scope.

Section WeightedEnsemble.
Variables (R : realFieldType) (T : finType).
Implicit Types (p q : T -> R) (x : T) (lam : R).

Definition we_mix lam q p x := lam * q x + (1 - lam) * p x.

Lemma we_mix_is_dist lam q p :
  0 <= lam <= 1 -> is_dist q -> is_dist p -> is_dist (we_mix lam q p).
Proof.
move=> /andP [l0 l1] dq dp; split=> [x | ].
  by rewrite addr_ge0 ?mulr_ge0 ?subr_ge0 ?dist_ge0.
rewrite /we_mix big_split /= -!mulr_sumr !dist_sum1 //.
by rewrite !mulr1 addrC subrK.
Qed.

(* THM-3.2 *)
Theorem we_acceptance_ge_lambda lam q p :
  0 <= lam <= 1 -> is_dist q -> is_dist p -> lam <= overlap q (we_mix lam q p).
Proof.
move=> /andP [l0 l1] dq dp.
rewrite -[X in X <= _]mulr1 -(dist_sum1 dq) mulr_sumr.
apply: ler_sum => x _; rewrite le_minr ler_pimull ?dist_ge0 //=.
by rewrite /we_mix ler_addl mulr_ge0 ?subr_ge0 ?dist_ge0.
Qed.

(* Pointwise: min(q x, r x) = lambda q x exactly when q x = 0 or p x = 0. *)
Lemma we_min_eq_iff lam q p x :
  0 <= lam < 1 -> 0 <= q x -> 0 <= p x ->
  (Num.min (q x) (we_mix lam q p x) = lam * q x <-> q x = 0 \/ p x = 0).
Proof.
move=> /andP [l0 l1] q0 p0; rewrite /we_mix; split=> [hmin | [qx0 | px0]]; last 2 first.
- by rewrite qx0 mulr0 add0r min_l // mulr_ge0 // subr_ge0 ltW.
- by rewrite px0 mulr0 addr0 min_r // ler_pimull // ltW.
have [qx0 | qpos] := eqVneq (q x) 0; first by left.
have [px0 | ppos] := eqVneq (p x) 0; first by right.
have qgt : 0 < q x by rewrite lt_neqAle eq_sym qpos q0.
have pgt : 0 < p x by rewrite lt_neqAle eq_sym ppos p0.
have : lam * q x < Num.min (q x) (lam * q x + (1 - lam) * p x).
  rewrite lt_minr gtr_pmull // l1 /= ltr_addl.
  by rewrite mulr_gt0 // subr_gt0.
by rewrite hmin ltxx.
Qed.

(* THM-3.2 *)
Theorem we_acceptance_eq_lambda_iff_disjoint lam q p :
  0 <= lam < 1 -> is_dist q -> is_dist p ->
  (overlap q (we_mix lam q p) = lam <-> forall x, q x = 0 \/ p x = 0).
Proof.
move=> hl dq dp; have /andP [l0 l1] := hl.
have hsum : overlap q (we_mix lam q p) - lam
            = \sum_x (Num.min (q x) (we_mix lam q p x) - lam * q x).
  by rewrite sumrB -mulr_sumr (dist_sum1 dq) mulr1.
have hge x : 0 <= Num.min (q x) (we_mix lam q p x) - lam * q x.
  have l1' := ltW l1.
  rewrite subr_ge0 le_minr ler_pimull ?(dist_ge0 dq) //=.
  by rewrite /we_mix ler_addl mulr_ge0 ?subr_ge0 ?(dist_ge0 dp).
split=> [heq x | hdis].
  apply/(we_min_eq_iff hl (dist_ge0 dq x) (dist_ge0 dp x)); apply/eqP; rewrite -subr_eq0.
  have /eqP := hsum; rewrite heq subrr eq_sym psumr_eq0 /=; last by move=> y _; apply: hge.
  by move=> /allP /(_ x (mem_index_enum x)).
apply/eqP; rewrite -subr_eq0 hsum; apply/eqP; apply: big1 => x _.
apply/eqP; rewrite subr_eq0; apply/eqP.
by apply/(we_min_eq_iff hl (dist_ge0 dq x) (dist_ge0 dp x)).
Qed.

(* COR-3.3 *)
Theorem we_best_proposer_acceptance_ge_half lam q p :
  0 <= lam <= 1 -> is_dist q -> is_dist p ->
  2^-1 <= Num.max lam (1 - lam)
  /\ Num.max lam (1 - lam) <= Num.max (overlap q (we_mix lam q p)) (overlap p (we_mix lam q p)).
Proof.
move=> hl dq dp; have /andP [l0 l1] := hl; split.
  have half : (2^-1 : R) + 2^-1 = 1.
    by rewrite [RHS]splitr mul1r.
  rewrite le_maxr; have [// | lhalf] := leP (2^-1 : R) lam; rewrite /=.
  rewrite leNgt; apply/negP => h2.
  by have := ltr_add lhalf h2; rewrite half addrC subrK ltxx.
have swap : we_mix (1 - lam) p q =1 we_mix lam q p.
  by move=> x; rewrite /we_mix opprB addrCA subrr addr0 addrC.
have hp : 1 - lam <= overlap p (we_mix lam q p).
  rewrite /overlap -(eq_bigr _ (fun x _ => congr1 (Num.min (p x)) (swap x))).
  apply: we_acceptance_ge_lambda => //.
  by rewrite subr_ge0 l1 ler_subl_addr ler_addl.
have hq := we_acceptance_ge_lambda hl dq dp.
by rewrite le_maxl !le_maxr hq hp orbT.
Qed.

(* THM-WE-RESIDUAL *)
Theorem we_residual_is_sd_residual lam q p x :
  lam <= 1 -> excess q (we_mix lam q p) x = (1 - lam) * excess q p x.
Proof.
move=> l1; rewrite /excess /we_mix maxr_pmulr ?subr_ge0 // mulr0.
congr (Num.max 0 _).
rewrite [RHS]mulrBr [X in _ = _ - X]mulrBl mul1r opprB addrA.
by rewrite [_ * p x + _]addrC.
Qed.

Lemma we_excess_mass lam q p :
  lam <= 1 -> excess_mass q (we_mix lam q p) = (1 - lam) * excess_mass q p.
Proof.
move=> l1; rewrite /excess_mass mulr_sumr.
by apply: eq_bigr => x _; apply: we_residual_is_sd_residual.
Qed.

(* THM-WE-RESIDUAL *)
Theorem we_residual_normalised_eq lam q p x :
  lam < 1 -> residual q (we_mix lam q p) x = residual q p x.
Proof.
move=> l1; have l1' := ltW l1.
have nz : 1 - lam != 0 by rewrite subr_eq0 eq_sym lt_eqF.
rewrite /residual we_residual_is_sd_residual // we_excess_mass //.
by rewrite invfM mulrACA divff // mul1r.
Qed.

(* THM-3.2, THM-WE-RESIDUAL *)
Theorem we_acceptance_closed_form lam q p :
  0 <= lam <= 1 -> is_dist q -> is_dist p ->
  overlap q (we_mix lam q p) = 1 - (1 - lam) * tv p q.
Proof.
move=> hl dq dp; have /andP [l0 l1] := hl.
have dr := we_mix_is_dist hl dq dp.
have e1 := overlap_add_excess_mass q dr.
have e2 := overlap_add_excess_mass q dp.
have -> : overlap q (we_mix lam q p) = 1 - excess_mass q (we_mix lam q p).
  by rewrite -e1 addrK.
rewrite we_excess_mass // -[excess_mass q p](addKr (overlap q p)) e2.
rewrite overlap_is_one_minus_tv // opprB subrK.
suff -> : tv q p = tv p q by [].
by rewrite /tv; congr (_ * _); apply: eq_bigr => x _; rewrite distrC.
Qed.

End WeightedEnsemble.
