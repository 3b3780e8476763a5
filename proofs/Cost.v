(* Cost.v: tokens per round and the cost-model corollaries.

   Model: a naive round drafts gamma tokens; each is accepted independently with probability
   alpha; the round emits tokens up to and including the first rejection (the rejected position
   emits its replacement), or gamma tokens if there is none.  No bonus token.  So the number N of
   emitted tokens has the law
     P(N = i) = alpha^(i-1) (1 - alpha)   for 1 <= i < gamma,
     P(N = gamma) = alpha^(gamma-1).

   Results, in plain words:
   - tokens_law_ge0, tokens_law_sum1 (THM-3.1): this is a distribution on 1..gamma.
   - tokens_tail (THM-3.1): P(N >= k) = alpha^(k-1) for 1 <= k <= gamma.
   - expectation_is_tail_sum (THM-3.1): for any law on 0..n, E[N] = sum_{k=1..n} P(N >= k).
   - expected_tokens_sum_pow (THM-3.1): E[N] = sum_{i<gamma} alpha^i.
   - expected_tokens_truncated_geometric (THM-3.1): E[N] = (1 - alpha^gamma) / (1 - alpha) for
     alpha <> 1, and expected_tokens_alpha_one: E[N] = gamma for alpha = 1.
   - alt_speedup_gamma_one (COR-3.7): the alternate-proposal speed-up formula with
     gamma_q = gamma_p = 1 reduces to (1 + c) / (1 + c - alpha c) for alpha <> 1.
   - never_slower_gamma_one (COR-3.7): for 0 <= alpha <= 1 and 0 <= c,
     (1 + c) / (1 + c - alpha c) >= 1.
   - never_slower_eq_iff (COR-3.7): equality holds exactly when alpha c = 0.
   - speedup_gamma_two_gt1_iff (COR-3.4): with gamma = 2 the naive speed-up
     (1 - alpha^2)(1 + c) / ((1 - alpha)(1 + 2c)) exceeds 1 exactly when alpha > c / (1 + c).
   - speedup_naive_law_eq (COR-3.5): the speed-up computed from the law of N,
     E[N] (1 + c) / (1 + c gamma), which is defined at alpha = 1 too, equals the closed form for
     alpha <> 1.
   - speedup_gamma_one_is_one (COR-3.5): with gamma = 1 the naive speed-up is exactly 1, for any
     alpha and any c >= 0: neither slower nor faster than the standard ensemble.
   - speedup_gamma_two_ge1_iff (COR-3.5): with gamma = 2 the speed-up is at least 1 exactly when
     alpha >= c / (1 + c).
   - we_paying_proposer_never_slower (COR-3.5): in a two-member weighted ensemble with per-call
     costs tq, tp > 0, a proposer whose weight is at least its share tq / (tq + tp) of the cost
     gives a speed-up of at least 1 at gamma = 2, and above 1 when its weight exceeds its share.
   - we_some_proposer_never_slower (COR-3.5): one of the two members always qualifies (the
     weights and the cost shares both sum to one), so for every two-member weighted ensemble and
     all positive costs some proposer makes gamma = 2 never slower, whatever p and q are.
   - we_heavier_cheaper_proposer_never_slower (COR-3.5): the paper's case: the member of weight
     at least 1/2 that costs no more than the other (c <= 1) qualifies.

   The speed-up formulas themselves (the paper's Theorems 3.1 and 3.6) rest on its cost
   assumptions and are definitions here, not theorems. *)

From mathcomp Require Import all_ssreflect ssralg ssrnum.
From Specens Require Import Dist WeightedEnsemble.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import Order.TTheory GRing.Theory Num.Theory.
Local Open Scope ring_scope.

Section Cost.
Variable R : realFieldType.
Implicit Types (a c : R) (g i k n : nat).

(* Law of the number of tokens a naive round of g proposals emits. *)
Definition tokens_law a g i : R :=
  if i == 0%N then 0
  else if (i < g)%N then a ^+ i.-1 * (1 - a)
  else if i == g then a ^+ g.-1 else 0.

(* Its expectation, over the support 0..g. *)
Definition expected_tokens a g := \sum_(0 <= i < g.+1) i%:R * tokens_law a g i.

(* THM-3.1 *)
Lemma tokens_law_ge0 a g i : 0 <= a <= 1 -> 0 <= tokens_law a g i.
Proof.
move=> /andP [a0 a1]; rewrite /tokens_law.
case: eqP => // _; case: ifP => _; first by rewrite mulr_ge0 ?exprn_ge0 ?subr_ge0.
by case: eqP => // _; rewrite exprn_ge0.
Qed.

Lemma tokens_tail_from_top a g m :
  (m < g)%N -> \sum_(g - m <= i < g.+1) tokens_law a g i = a ^+ (g - m).-1.
Proof.
elim: m => [|m IH] hm.
  rewrite subn0 big_nat1 /tokens_law ltnn eqxx.
  by case: eqP => // g0; move: hm; rewrite g0.
have hk : (g - m.+1).+1 = (g - m)%N by rewrite subnSK // (ltn_trans _ hm).
have k0 : (0 < g - m.+1)%N by rewrite subn_gt0.
rewrite big_ltn ?ltnS ?leq_subr // hk IH ?(ltn_trans _ hm) // -hk /=.
have g0 : (0 < g)%N by rewrite (leq_ltn_trans _ hm).
rewrite /tokens_law (negbTE (lt0n_neq0 k0)) ltn_subrL g0 /=.
by rewrite -{2}(prednK k0) exprSr mulrBr mulr1 subrK.
Qed.

(* THM-3.1: P(N >= k) = alpha^(k-1). *)
Lemma tokens_tail a g k :
  (0 < k <= g)%N -> \sum_(k <= i < g.+1) tokens_law a g i = a ^+ k.-1.
Proof.
move=> /andP [k0 kg]; have := @tokens_tail_from_top a g (g - k).
by rewrite subKn // => -> //; rewrite ltn_subrL k0 (leq_trans k0 kg).
Qed.

(* THM-3.1 *)
Lemma tokens_law_sum1 a g : (0 < g)%N -> \sum_(0 <= i < g.+1) tokens_law a g i = 1.
Proof.
move=> g0; rewrite big_ltn // {1}/tokens_law /= add0r.
by rewrite tokens_tail //= g0.
Qed.

(* THM-3.1: the tail-sum formula for the mean of any law on 0..n. *)
Lemma expectation_is_tail_sum (F : nat -> R) n :
  \sum_(0 <= i < n.+1) i%:R * F i = \sum_(1 <= k < n.+1) \sum_(k <= i < n.+1) F i.
Proof.
elim: n => [|n IH]; first by rewrite big_nat1 mul0r big_geq.
rewrite big_nat_recr //= IH [RHS]big_nat_recr //= big_nat1.
rewrite (@eq_big_nat _ _ _ 1 n.+1 (fun k => \sum_(k <= i < n.+2) F i)
                     (fun k => \sum_(k <= i < n.+1) F i + F n.+1)); last first.
  by move=> k /andP [_ kn]; rewrite big_nat_recr // ltnW.
rewrite big_split /= sumr_const_nat subn1 /= -addrA; congr (_ + _).
by rewrite mulr_natl mulrSr.
Qed.

(* THM-3.1 *)
Theorem expected_tokens_sum_pow a g :
  (0 < g)%N -> expected_tokens a g = \sum_(0 <= i < g) a ^+ i.
Proof.
move=> g0; rewrite /expected_tokens expectation_is_tail_sum.
rewrite (@eq_big_nat _ _ _ 1 g.+1 _ (fun k => a ^+ k.-1)); last first.
  by move=> k /andP [k0 kg]; rewrite tokens_tail // k0.
by rewrite -{1}[1%N]add0n big_addn subn1 /=; apply: eq_big_nat => i _; rewrite addn1.
Qed.

Lemma geometric_sum a g : ((1 - a) * \sum_(0 <= i < g) a ^+ i)%R = 1 - a ^+ g.
Proof.
elim: g => [|g IH]; first by rewrite big_geq // mulr0 expr0 subrr.
rewrite big_nat_recr //= mulrDr IH mulrBl mul1r -exprS.
by rewrite addrA subrK.
Qed.

(* THM-3.1 *)
Theorem expected_tokens_truncated_geometric a g :
  (0 < g)%N -> a != 1 -> expected_tokens a g = (1 - a ^+ g) / (1 - a).
Proof.
move=> g0 a1; have nz : 1 - a != 0 by rewrite subr_eq0 eq_sym.
by rewrite expected_tokens_sum_pow // -geometric_sum [RHS]mulrC mulKf.
Qed.

(* THM-3.1 *)
Theorem expected_tokens_alpha_one g : (0 < g)%N -> expected_tokens 1 g = g%:R.
Proof.
move=> g0; rewrite expected_tokens_sum_pow //.
under eq_bigr do rewrite expr1n.
by rewrite sumr_const_nat subn0.
Qed.

(* Speed-up formulas of the paper (its Theorems 3.1 and 3.6), as definitions. *)
Definition speedup_naive a c g :=
  (1 - a ^+ g) * (1 + c) / ((1 - a) * (1 + c * g%:R)).
Definition speedup_alt a c gq gp :=
  (1 - a ^+ gq) * (1 + c) / ((1 - a) * (1 + c * gq%:R - a ^+ gp * c)).

(* COR-3.7 *)
Lemma alt_speedup_gamma_one a c :
  a != 1 -> speedup_alt a c 1 1 = (1 + c) / (1 + c - a * c).
Proof.
move=> a1; have nz : 1 - a != 0 by rewrite subr_eq0 eq_sym.
by rewrite /speedup_alt !expr1 mulr1 invfM mulrACA mulfV // mul1r.
Qed.

(* COR-3.7 *)
Theorem never_slower_gamma_one a c :
  0 <= a <= 1 -> 0 <= c -> 1 <= (1 + c) / (1 + c - a * c).
Proof.
move=> /andP [a0 a1] c0.
have den : 0 < 1 + c - a * c.
  by rewrite -addrA; apply: ltr_spaddl; rewrite ?ltr01 // subr_ge0 ler_pimull.
by rewrite ler_pdivl_mulr // mul1r ler_subl_addr ler_addl mulr_ge0.
Qed.

(* COR-3.7 *)
Theorem never_slower_eq_iff a c :
  0 <= a <= 1 -> 0 <= c -> ((1 + c) / (1 + c - a * c) = 1 <-> a * c = 0).
Proof.
move=> /andP [a0 a1] c0.
have den : 0 < 1 + c - a * c.
  by rewrite -addrA; apply: ltr_spaddl; rewrite ?ltr01 // subr_ge0 ler_pimull.
have pc : 0 < 1 + c := ltr_spaddl ltr01 c0.
split=> [h | ->]; last by rewrite subr0 divff // gt_eqF.
have : 1 + c = 1 + c - a * c by rewrite -[LHS](divfK (lt0r_neq0 den)) h mul1r.
by move/eqP; rewrite -subr_eq0 opprB addrCA subrr addr0 => /eqP.
Qed.

(* COR-3.4 *)
Theorem speedup_gamma_two_gt1_iff a c :
  0 <= c -> a != 1 -> (1 < speedup_naive a c 2 <-> c / (1 + c) < a).
Proof.
move=> c0 a1; have nz : 1 - a != 0 by rewrite subr_eq0 eq_sym.
have pc : 0 < 1 + c := ltr_spaddl ltr01 c0.
have p2c : 0 < 1 + c * 2%:R := ltr_spaddl ltr01 (mulr_ge0 c0 (ler0n _ 2)).
have -> : speedup_naive a c 2 = (1 + a) * (1 + c) / (1 + c * 2%:R).
  rewrite /speedup_naive.
  have -> : 1 - a ^+ 2 = (1 - a) * (1 + a) by rewrite -subr_sqr expr1n.
  by rewrite -[(1 - a) * (1 + a) * (1 + c)]mulrA -mulf_div divff // mul1r.
rewrite ltr_pdivl_mulr // mul1r ltr_pdivr_mulr // mulrDl mul1r.
rewrite mulrDr mulr1 mulr_natr mulr2n addrA.
by rewrite ltr_add2l; split.
Qed.

(* The naive speed-up computed from the law of N: tokens per round over cost per round, relative
   to the standard ensemble's 1 + c per token.  Unlike the closed form it is defined at alpha = 1. *)
Definition speedup_naive_law a c g := expected_tokens a g * (1 + c) / (1 + c * g%:R).

(* COR-3.5 *)
Lemma speedup_naive_law_eq a c g :
  (0 < g)%N -> a != 1 -> speedup_naive_law a c g = speedup_naive a c g.
Proof.
move=> g0 a1; rewrite /speedup_naive_law /speedup_naive expected_tokens_truncated_geometric //.
by rewrite invfM !mulrA [_ / (1 - a) * _]mulrAC.
Qed.

(* COR-3.5 *)
Theorem speedup_gamma_one_is_one a c : 0 <= c -> speedup_naive_law a c 1 = 1.
Proof.
move=> c0; have pc : 0 < 1 + c := ltr_spaddl ltr01 c0.
rewrite /speedup_naive_law expected_tokens_sum_pow // big_nat1 expr0 mul1r mulr1.
by rewrite divff // gt_eqF.
Qed.

Lemma speedup_gamma_two_law a c :
  speedup_naive_law a c 2 = (1 + a) * (1 + c) / (1 + c * 2%:R).
Proof.
rewrite /speedup_naive_law expected_tokens_sum_pow //.
by rewrite big_nat_recr //= big_nat1 expr0 expr1.
Qed.

(* COR-3.5 *)
Theorem speedup_gamma_two_ge1_iff a c :
  0 <= c -> (1 <= speedup_naive_law a c 2 <-> c / (1 + c) <= a).
Proof.
move=> c0; have pc : 0 < 1 + c := ltr_spaddl ltr01 c0.
have p2c : 0 < 1 + c * 2%:R := ltr_spaddl ltr01 (mulr_ge0 c0 (ler0n _ 2)).
rewrite speedup_gamma_two_law ler_pdivl_mulr // mul1r ler_pdivr_mulr // mulrDl mul1r.
rewrite mulrDr mulr1 mulr_natr mulr2n addrA.
by rewrite ler_add2l; split.
Qed.

Lemma speedup_gamma_two_gt1_law a c :
  0 <= c -> (1 < speedup_naive_law a c 2 <-> c / (1 + c) < a).
Proof.
move=> c0; have pc : 0 < 1 + c := ltr_spaddl ltr01 c0.
have p2c : 0 < 1 + c * 2%:R := ltr_spaddl ltr01 (mulr_ge0 c0 (ler0n _ 2)).
rewrite speedup_gamma_two_law ltr_pdivl_mulr // mul1r ltr_pdivr_mulr // mulrDl mul1r.
rewrite mulrDr mulr1 mulr_natr mulr2n addrA.
by rewrite ltr_add2l; split.
Qed.

(* With c = tq / tp, the threshold c / (1 + c) of COR-3.4 is the proposer's share of the cost. *)
Lemma cost_ratio_threshold (tq tp : R) :
  0 < tq -> 0 < tp -> (tq / tp) / (1 + tq / tp) = tq / (tq + tp).
Proof.
move=> q0 p0; have pnz : tp != 0 by rewrite gt_eqF.
have snz : tq + tp != 0 by rewrite gt_eqF // addr_gt0.
have -> : 1 + tq / tp = (tq + tp) / tp by rewrite mulrDl divff // addrC.
by rewrite invf_div mulrA mulfVK.
Qed.

End Cost.

Section WeCost.
Variables (R : realFieldType) (T : finType).
Implicit Types (p q : T -> R) (lam tq tp : R).

(* COR-3.5: a proposer q of weight lam, costing tq per call against the other member's tp,
   whose weight is at least its share of the cost. *)
Theorem we_paying_proposer_never_slower lam q p tq tp :
  0 <= lam <= 1 -> is_dist q -> is_dist p -> 0 < tq -> 0 < tp ->
  tq / (tq + tp) <= lam ->
  1 <= speedup_naive_law (overlap q (we_mix lam q p)) (tq / tp) 2
  /\ (tq / (tq + tp) < lam -> 1 < speedup_naive_law (overlap q (we_mix lam q p)) (tq / tp) 2).
Proof.
move=> hl dq dp q0 p0 share.
have c0 : 0 <= tq / tp by rewrite divr_ge0 // ltW.
have alpha := we_acceptance_ge_lambda hl dq dp.
split; first by apply/(speedup_gamma_two_ge1_iff _ c0); rewrite cost_ratio_threshold // (le_trans share).
by move=> strict; apply/(speedup_gamma_two_gt1_law _ c0); rewrite cost_ratio_threshold // (lt_le_trans strict).
Qed.

(* COR-3.5: whatever q, p, lam and the positive costs, one of the two proposers makes gamma = 2
   never slower.  The second disjunct is p proposing (weight 1 - lam, cost ratio tp / tq). *)
Theorem we_some_proposer_never_slower lam q p tq tp :
  0 <= lam <= 1 -> is_dist q -> is_dist p -> 0 < tq -> 0 < tp ->
  1 <= speedup_naive_law (overlap q (we_mix lam q p)) (tq / tp) 2
  \/ 1 <= speedup_naive_law (overlap p (we_mix lam q p)) (tp / tq) 2.
Proof.
move=> hl dq dp q0 p0; have /andP [l0 l1] := hl.
have [share | share] := leP (tq / (tq + tp)) lam.
  by left; have [] := we_paying_proposer_never_slower hl dq dp q0 p0 share.
right.
have swap : we_mix (1 - lam) p q =1 we_mix lam q p.
  by move=> x; rewrite /we_mix opprB addrCA subrr addr0 addrC.
have hl' : 0 <= 1 - lam <= 1 by rewrite subr_ge0 l1 ler_subl_addr ler_addl.
have snz : tq + tp != 0 by rewrite gt_eqF // addr_gt0.
have share' : tp / (tp + tq) <= 1 - lam.
  have -> : tp / (tp + tq) = 1 - tq / (tq + tp).
    by rewrite [tp + tq]addrC -(divff snz) -mulrBl [tq + tp]addrC addrK.
  by rewrite ler_add2l ler_opp2 ltW.
have [] := we_paying_proposer_never_slower hl' dp dq p0 q0 share'.
by rewrite /overlap (eq_bigr _ (fun x _ => congr1 (Num.min (p x)) (swap x))).
Qed.

(* COR-3.5: the paper's case.  The member of weight at least 1/2, if it costs no more than the
   other (c = tq / tp <= 1), already qualifies. *)
Theorem we_heavier_cheaper_proposer_never_slower lam q p tq tp :
  2^-1 <= lam <= 1 -> is_dist q -> is_dist p -> 0 < tq <= tp ->
  1 <= speedup_naive_law (overlap q (we_mix lam q p)) (tq / tp) 2.
Proof.
move=> /andP [lh l1] dq dp /andP [q0 qp]; have p0 := lt_le_trans q0 qp.
have l0 : 0 <= lam by rewrite (le_trans _ lh) // invr_ge0 ler0n.
have hl : 0 <= lam <= 1 by rewrite l0 l1.
have share : tq / (tq + tp) <= lam.
  apply: le_trans lh; rewrite ler_pdivr_mulr ?addr_gt0 // mulrDr {1}(splitr tq).
  by rewrite ![2^-1 * _]mulrC ler_add2l ler_pmul2r // invr_gt0 ltr0n.
by have [] := we_paying_proposer_never_slower hl dq dp q0 p0 share.
Qed.

End WeCost.
