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

   The speed-up formulas themselves (the paper's Theorems 3.1 and 3.6) rest on its cost
   assumptions and are definitions here, not theorems. *)

From mathcomp Require Import all_ssreflect ssralg ssrnum.

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

End Cost.
