(* Dist.v: finite distributions and the quantities the verification step uses.

   Results, in plain words:
   - dist_ge0, dist_sum1: a distribution is non-negative and sums to one.
   - excess_ge0, excess_mass_ge0: the residual numerator max(0, r - q) and its mass are
     non-negative.
   - min_add_excess: pointwise, min(q x, r x) + max(0, r x - q x) = r x.
   - overlap_add_excess_mass: for a distribution r, the overlap sum_x min(q x, r x) plus the
     residual mass sum_x max(0, r x - q x) is one.
   - overlap_ge0, overlap_le1: the overlap of two distributions lies in [0, 1].
   - min_as_abs: min(a, b) = (a + b - |a - b|) / 2.
   - residual_is_dist: when the residual mass is positive, the normalised residual is a
     distribution.

   Setting: a finite vocabulary T (a finType) and an ordered field R (a realFieldType).  A
   distribution is a function T -> R, non-negative, summing to one; the probability of an event is
   the finite weighted sum, no measure theory. *)

From mathcomp Require Import all_ssreflect ssralg ssrnum.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import Order.TTheory GRing.Theory Num.Theory.
Local Open Scope ring_scope.

Section Dist.
Variables (R : realFieldType) (T : finType).
Implicit Types (d p q r : T -> R) (x y : T) (a b : R).

(* A distribution over the vocabulary. *)
Definition is_dist d := (forall x, 0 <= d x) /\ \sum_x d x = 1.

Lemma dist_ge0 d : is_dist d -> forall x, 0 <= d x.
Proof. by case. Qed.

Lemma dist_sum1 d : is_dist d -> \sum_x d x = 1.
Proof. by case. Qed.

(* Overlap of q and r: the acceptance probability of the verification step (THM-ACCEPT). *)
Definition overlap q r := \sum_x Num.min (q x) (r x).

(* The residual numerator max(0, r - q) at x, and its total mass. *)
Definition excess q r x := Num.max 0 (r x - q x).
Definition excess_mass q r := \sum_x excess q r x.

(* The normalised residual norm(max(0, r - q)).  MathComp sets 0^-1 = 0, so where the mass is
   zero this is the zero function; the verification step never relies on that value. *)
Definition residual q r x := excess q r x / excess_mass q r.

(* Total variation distance, TV(q, r) = 1/2 sum_x |q x - r x|. *)
Definition tv q r := 2^-1 * \sum_x `|q x - r x|.

Lemma excess_ge0 q r x : 0 <= excess q r x.
Proof. by rewrite /excess le_maxr lexx. Qed.

Lemma excess_mass_ge0 q r : 0 <= excess_mass q r.
Proof. by apply: sumr_ge0 => x _; apply: excess_ge0. Qed.

Lemma min_add_excess a b : Num.min a b + Num.max 0 (b - a) = b.
Proof.
case: (leP a b) => [ab | ba].
  by rewrite max_r ?subr_ge0 // addrC subrK.
by rewrite max_l ?addr0 // subr_le0 ltW.
Qed.

Lemma overlap_add_excess_mass q r : is_dist r -> overlap q r + excess_mass q r = 1.
Proof.
move=> dr; rewrite /overlap /excess_mass -big_split /= -(dist_sum1 dr).
by apply: eq_bigr => x _; rewrite /excess min_add_excess.
Qed.

Lemma overlap_ge0 q r : is_dist q -> is_dist r -> 0 <= overlap q r.
Proof.
move=> dq dr; apply: sumr_ge0 => x _.
by rewrite le_minr !dist_ge0.
Qed.

Lemma overlap_le1 q r : is_dist r -> overlap q r <= 1.
Proof.
move=> dr; rewrite -(overlap_add_excess_mass q dr) ler_addl.
exact: excess_mass_ge0.
Qed.

Lemma min_as_abs a b : Num.min a b = (a + b - `|a - b|) / 2.
Proof.
apply: (@mulIf _ 2); first by rewrite pnatr_eq0.
rewrite divfK ?pnatr_eq0 //.
case: (leP a b) => [ab | ba].
  rewrite ler0_norm ?subr_le0 // opprK.
  by rewrite mulr_natr mulr2n -addrA [b + _]addrC subrK.
rewrite ger0_norm ?subr_ge0 ?ltW //.
by rewrite mulr_natr mulr2n opprB [RHS]addrC addrA subrK.
Qed.

Lemma residual_is_dist q r : 0 < excess_mass q r -> is_dist (residual q r).
Proof.
move=> pos; split=> [x | ].
  by rewrite /residual divr_ge0 ?excess_ge0 ?ltW.
by rewrite /residual -mulr_suml divff // gt_eqF.
Qed.

End Dist.
