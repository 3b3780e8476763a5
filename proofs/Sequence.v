(* Sequence.v: multi-token rounds and whole decodings emit the ensemble's sequential law.

   Models are functions from a prefix (seq T) to a distribution over the next token.  r is the
   ensemble: every emitted token must follow r at the prefix emitted so far.  A proposal schedule
   prop j s gives the distribution the j-th proposal of a round (counted from 0 since the last
   restart) is drawn from at prefix s; res j s is the replacement distribution used on rejection.
   Laws are written as expectations: seq_expect m n s K is E[K(y_1 .. y_n)] when each y_i is drawn
   from m at prefix s ++ y_1 .. y_(i-1).  Taking K an indicator gives a probability.

   Results, in plain words:
   - round_emits_ensemble_sequence (THM-SEQ-ROUND): a round of up to n proposals from any schedule,
     each verified left to right against r, stopping at the first rejection (whose replacement is
     emitted), emits a prefix of the ensemble's sequence: completing the round's output with fresh
     draws from r up to n tokens gives exactly the law of n sequential draws from r.
   - round_first_token_is_r (THM-SEQ-ROUND): the first token a round emits has law r(s).
   - eager_round_eq_lazy_round (THM-SEQ-ROUND): drafting all n proposals first and then verifying
     them left to right (discarding the drafts after a rejection) has the same law as drafting
     each proposal only after its predecessor was accepted.
   - naive_round_emits_ensemble_sequence (THM-SEQ-ROUND): the case of one member proposing every
     token from its own q(prefix) (the naive SE round).
   - decode_emits_ensemble_sequence (THM-SE-ALT): a whole decoding of n tokens made of rounds,
     where each rejection emits its replacement and restarts the schedule at j = 0, emits exactly
     n sequential draws from r, for any proposal schedule.
   - alternate_decode_emits_ensemble_sequence (THM-SE-ALT): the two-member alternate-proposal
     schedule (gamma_q proposals by M_q, the first of them after a restart, then gamma_p by M_p,
     then gamma_q by M_q, and so on; the scorer's bonus token is the first of its block) is a
     case of it.
   - naive_decode_emits_ensemble_sequence (THM-SEQ-ROUND): so is naive SE (one fixed proposer).
   - rounds_emit_ensemble_sequence (THM-SE-ALT): chaining rounds (each round gets the remaining
     budget and starts from the prefix emitted so far) is exact for any round that is exact in the
     completed sense above and only looks at sequences it can emit.
   - eager_rounds_emit_ensemble_sequence, alternate_eager_rounds_emit_ensemble_sequence
     (THM-SE-ALT): so decoding by eagerly drafted rounds, for any schedule and for the two-member
     alternate schedule, emits exactly n sequential draws from r.

   Not covered here: a proof that the n-member scheduler's proposer at each position is a function
   of the position since the last restart and of the prefix (the decoding theorems hold for every
   such schedule), and anything about floating point. *)

From mathcomp Require Import all_ssreflect ssralg ssrnum.
From Specens Require Import Dist Verify.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import Order.TTheory GRing.Theory Num.Theory.
Local Open Scope ring_scope.

Section SeqExpect.
Variables (R : realFieldType) (T : finType).

(* E[K(y_1 .. y_n)] for y_i drawn from m at prefix s ++ y_1 .. y_(i-1). *)
Fixpoint seq_expect (m : seq T -> T -> R) n s (K : seq T -> R) : R :=
  if n is n'.+1 then \sum_y m s y * seq_expect m n' (rcons s y) (fun t => K (y :: t))
  else K [::].

Lemma seq_expect_ext m n s K1 K2 :
  (forall t, K1 t = K2 t) -> seq_expect m n s K1 = seq_expect m n s K2.
Proof.
elim: n s K1 K2 => [|n IH] s K1 K2 hK /=; first exact: hK.
by apply: eq_bigr => y _; rewrite (IH _ _ (fun t => K2 (y :: t))).
Qed.

(* Expectation of a constant. *)
Lemma seq_expect_const m n s c :
  (forall s, is_dist (m s)) -> seq_expect m n s (fun _ => c) = c.
Proof.
move=> dm; elim: n s => [|n IH] s //=.
under eq_bigr do rewrite IH.
by rewrite -mulr_suml dist_sum1 ?mul1r.
Qed.

(* Expectation is affine in the payoff. *)
Lemma seq_expect_affine m n s c1 c2 (F : seq T -> R) :
  (forall s, is_dist (m s)) ->
  seq_expect m n s (fun t => c1 * F t + c2) = c1 * seq_expect m n s F + c2.
Proof.
move=> dm; elim: n s F => [|n IH] s F //=.
under eq_bigr do rewrite IH mulrDr mulrCA.
by rewrite big_split /= -mulr_sumr -mulr_suml (dist_sum1 (dm s)) mul1r.
Qed.

End SeqExpect.

Section Rounds.
Variables (R : realFieldType) (T : finType).
Variable r : seq T -> T -> R.
Variable prop : nat -> seq T -> T -> R.
Variable res : nat -> seq T -> T -> R.
Hypothesis dr : forall s, is_dist (r s).
Hypothesis dprop : forall j s, is_dist (prop j s).
Hypothesis hres : forall j s, residual_rule (prop j s) (r s) (res j s).

Local Notation acc j s x := (accept_prob (prop j s) (r s) x).

(* Replacement term: E[K([y])] for y drawn from the replacement distribution. *)
Local Notation replace j s K := (\sum_y res j s y * K [:: y]).

(* A lazy round of up to n proposals from step j of the schedule at prefix s: draw x from
   prop j s; accept it with probability acc and go on, or emit a replacement and stop. *)
Fixpoint round_expect n j s (K : seq T -> R) : R :=
  if n is n'.+1 then
    \sum_x prop j s x *
      (acc j s x * round_expect n' j.+1 (rcons s x) (fun t => K (x :: t))
       + (1 - acc j s x) * replace j s K)
  else K [::].

Lemma round_expect_ext n j s K1 K2 :
  (forall t, K1 t = K2 t) -> round_expect n j s K1 = round_expect n j s K2.
Proof.
elim: n j s K1 K2 => [|n IH] j s K1 K2 hK /=; first exact: hK.
apply: eq_bigr => x _; rewrite (IH _ _ _ (fun t => K2 (x :: t))) //.
by congr (_ * (_ + _ * _)); apply: eq_bigr => y _; rewrite hK.
Qed.

(* Completing an emitted sequence out with draws from r up to n tokens. *)
Definition complete n s (K : seq T -> R) (out : seq T) :=
  seq_expect r (n - size out) (s ++ out) (fun t => K (out ++ t)).

(* THM-SEQ-ROUND *)
Theorem round_emits_ensemble_sequence n j s K :
  round_expect n j s (complete n s K) = seq_expect r n s K.
Proof.
elim: n j s K => [|n IH] j s K /=; first by rewrite /complete /=.
have step x : round_expect n j.+1 (rcons s x) (fun t => complete n.+1 s K (x :: t))
              = seq_expect r n (rcons s x) (fun t => K (x :: t)).
  rewrite -(IH j.+1 (rcons s x) (fun t => K (x :: t))).
  by apply: round_expect_ext => t; rewrite /complete /= subSS cat_rcons.
have last y : complete n.+1 s K [:: y] = seq_expect r n (rcons s y) (fun t => K (y :: t)).
  by rewrite /complete /= subn1 /= cats1.
under eq_bigr do rewrite step.
under eq_bigr => x _ do under eq_bigr => y _ do rewrite last.
exact: (verify_step_expect (fun y => seq_expect r n (rcons s y) (fun t => K (y :: t)))
          (dprop j s) (dr s) (@hres j s)).
Qed.

(* THM-SEQ-ROUND *)
Corollary round_first_token_is_r n j s y :
  round_expect n.+1 j s (fun out => (ohead out == Some y)%:R) = r s y.
Proof.
have -> : round_expect n.+1 j s (fun out => (ohead out == Some y)%:R)
        = round_expect n.+1 j s (complete n.+1 s (fun out => (ohead out == Some y)%:R)).
  rewrite /=; apply: eq_bigr => x _; congr (_ * (_ + _)).
    by congr (_ * _); apply: round_expect_ext => t; rewrite /complete seq_expect_const.
  by congr (_ * _); apply: eq_bigr => z _; rewrite /complete seq_expect_const.
rewrite round_emits_ensemble_sequence /=.
under eq_bigr do rewrite seq_expect_const //.
rewrite (bigD1 y) //= eqxx mulr1 big1 ?addr0 // => z zy.
by rewrite (inj_eq (@Some_inj _)) (negbTE zy) mulr0.
Qed.

(* Eager version: draft n tokens with the schedule, then verify them left to right. *)
Fixpoint draft_expect n j s (F : seq T -> R) : R :=
  if n is n'.+1 then \sum_x prop j s x * draft_expect n' j.+1 (rcons s x) (fun t => F (x :: t))
  else F [::].

Fixpoint verify_expect (xs : seq T) j s (K : seq T -> R) : R :=
  if xs is x :: xs' then
    acc j s x * verify_expect xs' j.+1 (rcons s x) (fun t => K (x :: t))
    + (1 - acc j s x) * replace j s K
  else K [::].

Definition eager_round_expect n j s K := draft_expect n j s (fun xs => verify_expect xs j s K).

Lemma draft_expect_ext n j s F1 F2 :
  (forall t, F1 t = F2 t) -> draft_expect n j s F1 = draft_expect n j s F2.
Proof.
elim: n j s F1 F2 => [|n IH] j s F1 F2 hF /=; first exact: hF.
by apply: eq_bigr => x _; rewrite (IH _ _ _ (fun t => F2 (x :: t))).
Qed.

Lemma draft_expect_affine n j s c1 c2 F :
  draft_expect n j s (fun t => c1 * F t + c2) = c1 * draft_expect n j s F + c2.
Proof.
elim: n j s F => [|n IH] j s F //=.
under eq_bigr do rewrite IH mulrDr mulrCA.
by rewrite big_split /= -mulr_sumr -mulr_suml (dist_sum1 (dprop j s)) mul1r.
Qed.

(* THM-SEQ-ROUND *)
Theorem eager_round_eq_lazy_round n j s K :
  eager_round_expect n j s K = round_expect n j s K.
Proof.
rewrite /eager_round_expect.
elim: n j s K => [|n IH] j s K //=.
apply: eq_bigr => x _; congr (_ * _).
by rewrite draft_expect_affine IH.
Qed.

(* A round only looks at the sequences it can emit: of length at most n, and non-empty when
   n > 0. *)
Lemma round_expect_support n j s K1 K2 :
  (forall out, (size out <= n)%N -> (n == 0%N) || (0 < size out)%N -> K1 out = K2 out) ->
  round_expect n j s K1 = round_expect n j s K2.
Proof.
elim: n j s K1 K2 => [|n IH] j s K1 K2 hK /=; first exact: hK.
apply: eq_bigr => x _; congr (_ * (_ * _ + _ * _)).
  by apply: IH => t ht _; apply: hK.
by apply: eq_bigr => y _; rewrite hK.
Qed.

(* Decoding by rounds: run a round with the remaining budget n, then decode the rest from the
   extended prefix.  Each round emits at least one token, so fuel n suffices. *)
Fixpoint rounds_expect (round : nat -> seq T -> (seq T -> R) -> R) fuel n s K : R :=
  if fuel is fuel'.+1 then
    round n s (fun out =>
      rounds_expect round fuel' (n - size out)%N (s ++ out) (fun t => K (out ++ t)))
  else K [::].

(* THM-SE-ALT: any round that is exact in the sense of round_emits_ensemble_sequence and only
   looks at the sequences it can emit gives an exact decoding when chained. *)
Theorem rounds_emit_ensemble_sequence (round : nat -> seq T -> (seq T -> R) -> R) :
  (forall n s K, round n s (complete n s K) = seq_expect r n s K) ->
  (forall n s K1 K2,
     (forall out, (size out <= n)%N -> (n == 0%N) || (0 < size out)%N -> K1 out = K2 out) ->
     round n s K1 = round n s K2) ->
  forall fuel n s K, (n <= fuel)%N -> rounds_expect round fuel n s K = seq_expect r n s K.
Proof.
move=> exact_round support; elim=> [|fuel IH] n s K hn.
  by move: hn; rewrite leqn0 => /eqP ->.
rewrite /= -exact_round; apply: support => out hsize hpos.
rewrite IH //; case: n hn hsize hpos => [|n] hn hsize hpos.
  by rewrite sub0n.
by case: out hsize hpos => // y t _ _; rewrite subSS (leq_trans (leq_subr _ _)).
Qed.

(* THM-SE-ALT: decoding by eagerly drafted rounds (each round drafts its n proposals from the
   schedule, verifies them left to right, emits up to the first rejection and its replacement;
   the next round restarts the schedule) emits n sequential draws from r. *)
Theorem eager_rounds_emit_ensemble_sequence n s K :
  rounds_expect (fun n s K => eager_round_expect n 0%N s K) n n s K = seq_expect r n s K.
Proof.
apply: rounds_emit_ensemble_sequence => //.
  by move=> m s' K'; rewrite eager_round_eq_lazy_round round_emits_ensemble_sequence.
move=> m s' K1 K2 hK; rewrite !eager_round_eq_lazy_round.
exact: round_expect_support.
Qed.

(* A whole decoding of n tokens: on rejection the replacement is emitted and the schedule
   restarts at step 0 from the extended prefix. *)
Fixpoint decode_expect n j s (K : seq T -> R) : R :=
  if n is n'.+1 then
    \sum_x prop j s x *
      (acc j s x * decode_expect n' j.+1 (rcons s x) (fun t => K (x :: t))
       + (1 - acc j s x)
         * \sum_y res j s y * decode_expect n' 0%N (rcons s y) (fun t => K (y :: t)))
  else K [::].

(* THM-SE-ALT *)
Theorem decode_emits_ensemble_sequence n j s K :
  decode_expect n j s K = seq_expect r n s K.
Proof.
elim: n j s K => [|n IH] j s K //=.
under eq_bigr do rewrite !IH.
under eq_bigr => x _ do under eq_bigr => y _ do rewrite IH.
exact: (verify_step_expect (fun y => seq_expect r n (rcons s y) (fun t => K (y :: t)))
          (dprop j s) (dr s) (@hres j s)).
Qed.

End Rounds.

Section Schedules.
Variables (R : realFieldType) (T : finType).
Variables (r q p : seq T -> T -> R).
Hypothesis dr : forall s, is_dist (r s).
Hypothesis dq : forall s, is_dist (q s).
Hypothesis dp : forall s, is_dist (p s).

(* Two-member alternate proposals: steps 0 .. gq-1 after a restart are proposed by M_q (the
   default proposer), the next gp by M_p (its bonus token first), then gq by M_q, and so on. *)
Definition alt_schedule (gq gp : nat) j s : T -> R :=
  if (j %% (gq + gp) < gq)%N then q s else p s.

(* The exact replacement: the normalised residual of the proposer's distribution against r. *)
Definition sched_residual (prop : nat -> seq T -> T -> R) j s := residual (prop j s) (r s).

Lemma alt_schedule_is_dist gq gp j s : is_dist (alt_schedule gq gp j s).
Proof. by rewrite /alt_schedule; case: ifP. Qed.

(* THM-SE-ALT *)
Corollary alternate_decode_emits_ensemble_sequence gq gp n s K :
  decode_expect r (alt_schedule gq gp) (sched_residual (alt_schedule gq gp)) n 0%N s K
  = seq_expect r n s K.
Proof.
apply: decode_emits_ensemble_sequence.
- exact: dr.
- by move=> j s'; apply: alt_schedule_is_dist.
- by move=> j s' _ y.
Qed.

(* THM-SE-ALT *)
Corollary alternate_eager_rounds_emit_ensemble_sequence gq gp n s K :
  rounds_expect
    (fun n s K => eager_round_expect r (alt_schedule gq gp)
                    (sched_residual (alt_schedule gq gp)) n 0%N s K) n n s K
  = seq_expect r n s K.
Proof.
apply: eager_rounds_emit_ensemble_sequence.
- exact: dr.
- by move=> j s'; apply: alt_schedule_is_dist.
- by move=> j s' _ y.
Qed.

(* THM-SEQ-ROUND *)
Corollary naive_round_emits_ensemble_sequence n s K :
  round_expect r (fun _ => q) (sched_residual (fun _ => q)) n 0%N s
    (complete r n s K)
  = seq_expect r n s K.
Proof.
apply: round_emits_ensemble_sequence.
- exact: dr.
- by move=> j s'; apply: dq.
- by move=> j s' _ y.
Qed.

(* THM-SEQ-ROUND *)
Corollary naive_decode_emits_ensemble_sequence n s K :
  decode_expect r (fun _ => q) (sched_residual (fun _ => q)) n 0%N s K = seq_expect r n s K.
Proof.
apply: decode_emits_ensemble_sequence.
- exact: dr.
- by move=> j s'; apply: dq.
- by move=> j s' _ y.
Qed.

End Schedules.
