"""Break it once: every tests/core property must fail against a deliberately broken core.

Each mutant replaces one snippet of `robustlab/core` in a temporary copy of the project (the
shared working tree is never touched) and runs the tests it names there; a mutant "killed"
means every named test failed. A snippet that no longer occurs exactly once is reported as
STALE so this list cannot silently rot. Not collected by pytest (no `test_` prefix).

    .venv/bin/python tests/core/mutants.py            # all mutants
    .venv/bin/python tests/core/mutants.py gate_      # those whose name contains "gate_"
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str  # under robustlab/core/
    old: str
    new: str
    tests: tuple[str, ...]  # "test_file.py::test_name" under tests/core/


MIP = "test_mip.py::test_mip_"
SYM = "test_symile.py::test_"
N2 = "test_symile_n2.py::test_"
GATE = "test_gate.py::test_"
FORMS = "test_gate_forms.py::test_"
LOSS = "test_gated_loss.py::test_"
GRAM = "test_gram.py::test_"
TRI = "test_triangle.py::test_"
_LOG_N = "torch.log(torch.tensor(float(anchor.shape[0])))"  # a loss reported relative to chance

MUTANTS = (
    Mutant("mip_abs", "mip.py", "out = out * emb", "out = out * emb.abs()",
           (MIP + "symmetric_under_any_permutation", MIP + "linear_in_each_argument",
            MIP + "with_ones_is_the_dot_product", MIP + "of_two_is_the_dot_product")),
    Mutant("mip_times_d", "mip.py", "return elementwise_product(embeddings).sum(dim=-1)",
           "return elementwise_product(embeddings).sum(dim=-1) * embeddings[0].shape[1]",
           (MIP + "bounded_by_two_norms_and_a_sup_norm",)),
    Mutant("symile_double_positive", "symile.py",
           "return [(lse - positive).mean() for lse in lses]",
           "return [(lse - 2 * positive).mean() for lse in lses]",
           (SYM + "loss_is_finite_and_nonnegative",)),
    Mutant("symile_extra_logit", "symile_n2.py", "total = top + row_sums.sum(1).log2()",
           "total = top + (row_sums.sum(1) + 1).log2()",
           (SYM + "identical_embeddings_give_log_of_the_number_of_candidates",)),
    Mutant("symile_rolled_positive", "symile.py", "positive = scale * mip(*embs)",
           "positive = scale * mip(embs[0].roll(1, 0), *embs[1:])",
           (SYM + "n_squared_invariant_to_jointly_permuting_the_batch",)),
    Mutant("symile_weighted_anchors", "symile.py",
           "return [(lse - positive).mean() for lse in lses]",
           "return [(lse - positive).mean() * (i + 1) for i, lse in enumerate(lses)]",
           (SYM + "n_squared_invariant_to_reordering_the_modalities",)),
    Mutant("symile_chunk_drops_a_row", "symile_n2.py",
           "stop = min(start + chunk, n ** len(middles))",
           "stop = max(start + 1, min(start + chunk, n ** len(middles)) - (chunk > 1))",
           (SYM + "chunked_equals_unchunked_values_and_gradients",
            N2 + "every_budget_gives_the_same_values_and_gradients_incl_the_scale")),
    Mutant("symile_backward_halved", "symile_n2.py",
           "return [scale * r for r in raw], grad_scale",
           "return [scale * r / (2 if i == 0 else 1) for i, r in enumerate(raw)], grad_scale",
           (SYM + "chunked_equals_unchunked_values_and_gradients",
            N2 + "analytic_backward_passes_gradcheck")),
    Mutant("symile_scale_grad_doubled", "symile_n2.py",
           "grad_scale = (first * raw[0]).sum().reshape(scale.shape)",
           "grad_scale = 2 * (first * raw[0]).sum().reshape(scale.shape)",
           (N2 + "every_budget_gives_the_same_values_and_gradients_incl_the_scale",
            N2 + "analytic_backward_passes_gradcheck")),
    Mutant("symile_last_anchor_weights_dropped", "symile_n2.py",
           "return w.addcmul_(last_w, self.g_last)", "return w",
           (N2 + "analytic_backward_passes_gradcheck",)),
    Mutant("symile_middle_weights_inverted", "symile_n2.py",
           "g * torch.exp2(low - lv)", "g * torch.exp2(lv - low)",
           (N2 + "analytic_backward_passes_gradcheck",)),
    Mutant("symile_reference_not_rescaled", "symile_n2.py",
           "            sum_first.mul_(decay)\n", "",
           (N2 + "log_partitions_equal_the_materialised_tensor",
            SYM + "chunked_equals_unchunked_values_and_gradients")),
    Mutant("symile_exact_rows_skipped", "symile_n2.py", "    if len(bad_first) or len(bad_last):",
           "    if False:",
           (N2 + "rows_far_below_the_largest_logit_are_exact_in_float32",)),
    Mutant("symile_kept_block_overwritten", "symile_n2.py",
           "shifted = logits if keep is None else scratch.take(\"shifted\", *shape)",
           "shifted = logits",
           (N2 + "every_budget_gives_the_same_values_and_gradients_incl_the_scale",)),
    Mutant("symile_kept_block_spent_in_backward", "symile_n2.py",
           "weights = anchors.logit_grads(logits, rows, out, scratch)",
           "weights = anchors.logit_grads(logits, rows, logits, scratch)",
           (N2 + "backward_twice_with_a_retained_graph_reads_the_kept_blocks_unchanged",)),
    Mutant("symile_partitions_round_trip", "symile_n2.py",
           "ctx.save_for_backward(scale, *embs, *lses2, *kept.blocks)",
           "ctx.save_for_backward(scale, *embs, *(lv / _LOG2E * _LOG2E for lv in lses2),"
           " *kept.blocks)",
           (N2 + "a_single_tuple_has_no_loss_and_no_gradient_in_float32",)),
    Mutant("symile_exact_route_rounded_apart", "symile_n2.py",
           "_logsumexp2(logits[:, :, cols_bad], (0, 1))",
           "_logsumexp2(torch.matmul(last2[cols_bad][None] * (1 if h is None else h[:, None]),"
           " first[i0:i0 + shape[1]].T), (0, 2))",
           (N2 + "gradients_stay_exact_when_rows_take_the_exact_route_in_float32",)),
    Mutant("symile_bf16_not_upcast", "symile.py", "embs = [emb.to(dtype) for emb in embeddings]",
           "embs = list(embeddings)", (N2 + "bf16_autocast_computes_in_float32",)),
    Mutant("clip_one_direction", "clip.py",
           "return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))",
           "return F.cross_entropy(logits, labels)",
           ("test_clip.py::test_clip_loss_symmetric_in_modality_order",
            "test_clip.py::test_clip_loss_of_two_modalities_is_info_nce")),
    Mutant("gate_no_null_discount", "gate.py",
           "w = w if null is None else w * (1 - p_null)[:, None]", "w = w",
           (GATE + "keep_weights_in_unit_interval_and_at_most_one_minus_p_null",)),
    Mutant("gate_candidate_normalised", "gate.py",
           "            for chunk in cand.split(chunk_size):\n",
           "            for chunk in cand.split(chunk_size):\n"
           "                chunk = F.normalize(chunk, dim=-1)\n",
           (GATE + "target_embedding_is_never_gated",)),
    Mutant("gate_beta_offset", "gate.py",
           "return torch.lerp(self.alpha(kw.w.dtype), kw.w.new_zeros(()), kw.w)",
           "return torch.lerp(self.alpha(kw.w.dtype), kw.w.new_zeros(()), kw.w) + 0.05",
           (GATE + "zero_gate_strength_gives_plain_symile_scores",
            GATE + "keep_weights_all_one_give_plain_symile_scores")),
    Mutant("gate_softmax_mask_after", "gate.py",
           "logits = logits.masked_fill(~keep, torch.finfo(logits.dtype).min)", "pass",
           (GATE + "fully_suppressed_context_modality_becomes_its_neutral",)),
    Mutant("gate_scale_exponent", "gate.py",
           "return float(self.dim) ** ((self.num_modalities - 1) / 2)",
           "return float(self.dim) ** (self.num_modalities / 2)",
           (GATE + "ones_neutral_full_suppression_is_a_scaled_pairwise_dot_product",)),
    Mutant("gate_no_renormalise", "gate_scoring.py",
           "g = F.normalize(e + b * (neutrals[m] - e), dim=-1, eps=eps)",
           "g = e + b * (neutrals[m] - e)",
           (GATE + "gated_embeddings_have_unit_norm",)),
    Mutant("gate_unnormalised_keys", "gate.py",
           "return F.normalize(keys, dim=-1, eps=self.eps)", "return keys",
           (GATE + "keep_weights_invariant_to_positive_rescaling",)),
    Mutant("gate_null_misaligned", "gate.py",
           "null = null[:, None]  # (T, 1, C): the same for every query",
           "null = null.flip(-1)[:, None]",
           (FORMS + "permuting_the_batch_permutes_the_outputs",)),
    Mutant("gate_pair_keys_mixed", "gate.py",
           'return torch.einsum("tmbk,tbck->tmbc", keys, q)',
           'return torch.einsum("tmbk,tbck->tmbc", keys.mean(2, keepdim=True).expand_as(keys), q)',

           (FORMS + "flattened_tuples_equal_each_tuple_alone",)),
    Mutant("gate_unclamped_norm", "gate_scoring.py",
           "elementwise_product(sq.clamp_min(eps * eps).unbind(1))",
           "elementwise_product(sq.unbind(1))",
           (FORMS + "a_gated_embedding_that_vanishes_keeps_scores_and_gradients_finite",)),
    Mutant("gate_autocast_kept", "gate.py",
           "return torch.autocast(device_type=ref.device.type, enabled=False)",
           "return torch.autocast(device_type=ref.device.type, dtype=torch.bfloat16,"
           " enabled=torch.is_autocast_enabled(ref.device.type))",
           (FORMS + "gate_runs_in_float32_under_bf16_autocast",)),
    Mutant("gate_fast_swapped_coef", "gate_scoring.py",
           "torch.lerp(values[s], values[s | bit], betas[m])",
           "torch.lerp(values[s | bit], values[s], betas[m])",
           (FORMS + "fast_equals_direct_forward_and_backward",)),
    Mutant("gate_fast_detached_norm", "gate_scoring.py",
           "sq = torch.addcmul(along * along, beta * beta, s2)",
           "sq = torch.addcmul(along * along, beta * beta, s2).detach()",
           (FORMS + "fast_equals_direct_forward_and_backward",)),
    Mutant("gate_fast_across_dropped", "gate_scoring.py",
           "sq = torch.addcmul(along * along, beta * beta, s2)", "sq = along * along",
           (FORMS + "fast_equals_direct_forward_and_backward",)),
    Mutant("gate_batch_no_radial_part", "gate_batch.py",
           "return torch.addcmul(grad, unit, along, value=-1.0).div_(norm.clamp_min(eps))",
           "return grad.div(norm.clamp_min(eps))",
           ("test_gate_batch.py::test_attention_beta_backward_passes_gradcheck",
            "test_gate_batch.py::test_whole_batch_functions_equal_the_direct_form")),
    Mutant("gate_batch_null_sign", "gate_batch.py",
           "dnu = -dmass * mass * (1 - mass)", "dnu = dmass * mass * (1 - mass)",
           ("test_gate_batch.py::test_attention_beta_backward_passes_gradcheck",
            "test_gate_batch.py::test_whole_batch_loss_at_the_default_studys_shapes")),
    Mutant("gate_batch_fold_swapped", "gate_batch.py",
           "new[s], new[s | bit] = grads[s] - high, high",
           "new[s], new[s | bit] = high, grads[s] - high",
           ("test_gate_batch.py::test_gated_product_backward_passes_gradcheck",
            "test_gate_batch.py::test_whole_batch_functions_equal_the_direct_form")),
    Mutant("gate_batch_norm_across_dropped", "gate_batch.py",
           "dbeta = dbeta + twice_along * (c - a) + 2 * dsq * beta * s2.clamp_min(0.0)",
           "dbeta = dbeta + twice_along * (c - a)",
           ("test_gate_batch.py::test_gated_product_backward_passes_gradcheck",
            "test_gate_batch.py::test_whole_batch_loss_at_the_default_studys_shapes")),
    Mutant("gate_batch_keys_transposed", "gate_batch.py",
           "kctx = khat.index_select(0, ids.flatten()).view(m, k * b, -1)",
           "kctx = khat.index_select(0, ids.flip(1).flatten()).view(m, k * b, -1)",
           ("test_gate_batch.py::test_whole_batch_functions_equal_the_direct_form",
            "test_gate_batch.py::test_whole_batch_loss_at_the_default_studys_shapes")),
    Mutant("gate_batch_mask_ignored", "gate_batch.py",
           "            w = w * keep[..., None]\n        beta", "            w = w\n        beta",
           (LOSS + "hard_missing_masks_change_the_loss_and_all_present_masks_do_not",)),
    Mutant("gate_temperature_offset", "gate.py", "return F.softplus(self.log_temp.to(dtype)) + 0.1",
           "return F.softplus(self.log_temp.to(dtype)) + 0.2",
           (GATE + "score_matches_the_design_formula_written_out",)),
    Mutant("gate_null_unscaled", "gate.py",
           "return (head + bias) / tau", "return head + bias",
           (GATE + "score_matches_the_design_formula_written_out",)),
    Mutant("loss_transposed", "gated_loss.py",
           "scores = gate.score_all(embeddings, masks=masks, columns=columns)",
           "scores = gate.score_all(embeddings, masks=masks, columns=columns).transpose(1, 2)",
           (LOSS + "whole_batch_loss_is_the_per_pair_cross_entropy",)),
    Mutant("loss_extra_candidate", "gated_loss.py",
           "return torch.cat([pos[:, None], neg], dim=1)",
           "return torch.cat([pos[:, None], neg, neg[:, :1]], dim=1)",
           (LOSS + "identical_candidates_give_log_of_k_plus_one",)),
    Mutant("loss_global_rng", "gated_loss.py",
           "neg = torch.randint(0, batch - 1, (batch, k), generator=generator,",
           "neg = torch.randint(0, batch - 1, (batch, k),",
           (LOSS + "sampled_negatives_reproducible_and_finite",)),
    Mutant("loss_uncapped_negatives", "gated_loss.py",
           "k = min(k, batch - 1)  # the reference's cap: no more negatives than other rows",
           "k = k",
           (LOSS + "identical_candidates_give_log_of_k_plus_one",
            LOSS + "sampled_negatives_are_capped_at_the_other_rows")),
    Mutant("gram_off_diagonal_once", "gram.py",
           "coef = tuples.adj_h[p][r] if p == r else 2 * tuples.adj_h[p][r]",
           "coef = tuples.adj_h[p][r]",
           (GRAM + "volume_equals_sqrt_det_of_the_explicit_gram_matrix",)),
    Mutant("gram_det_diagonal_only", "gram.py",
           "return m[0][0] * m[1][1] - m[0][1] * m[1][0]", "return m[0][0] * m[1][1]",
           (GRAM + "volume_zero_when_two_vectors_coincide_or_are_dependent",)),
    Mutant("gram_reversed_cross_terms", "gram.py",
           "q = [o @ anchor.T for o in tuples.others]",
           "q = [o @ anchor.T for o in tuples.others[::-1]]",
           (GRAM + "volume_symmetric_under_any_permutation",)),
    Mutant("gram_clamp_at_zero", "gram.py", "return det.clamp_min(eps).sqrt()",
           "return det.clamp_min(0.0).sqrt()",
           (GRAM + "identical_vectors_give_finite_gradients",)),
    Mutant("gram_simplex_volume", "gram.py", "return det.clamp_min(eps).sqrt()",
           "return det.clamp_min(eps).sqrt() / torch.arange(1, len(q) + 1).prod()",
           (GRAM + "volume_of_orthonormal_vectors_is_one",)),
    Mutant("gram_two_vector_adjugate", "gram.py", "return [[torch.ones_like(m[0][0])]]",
           "return [[2 * torch.ones_like(m[0][0])]]",
           (GRAM + "volume_of_two_is_base_times_height",)),
    Mutant("gram_normalised_anchor", "gram.py", "return _volumes(anchor.to(dt), tuples, eps).T",
           "return _volumes(F.normalize(anchor.to(dt), dim=-1), tuples, eps).T",
           (GRAM + "volume_scales_with_the_absolute_factor",)),
    Mutant("gram_detached_anchor_norm", "gram.py", "det = aa * tuples.det_h",
           "det = aa.detach() * tuples.det_h",
           (GRAM + "closed_form_gradient_equals_the_explicit_determinants",)),
    Mutant("gram_scores_sign", "gram.py", "parts = [-_volumes(chunk.to(dt), tuples, eps)",
           "parts = [_volumes(chunk.to(dt), tuples, eps)",
           (GRAM + "retrieval_argmax_is_the_training_logits_argmax_for_any_scale",)),
    Mutant("gram_chunks_reordered", "gram.py", "return torch.cat(parts, dim=1)  # (B, C)",
           "return torch.cat(parts[::-1], dim=1)  # (B, C)",
           (GRAM + "scores_are_minus_the_volume_of_each_pair",)),
    Mutant("gram_unscaled_logits", "gram.py",
           "return -logit_scale * gram_volumes(anchor, *others, eps=eps)",
           "return -gram_volumes(anchor, *others, eps=eps)",
           (GRAM + "loss_matches_the_symmetric_infonce_written_out",)),
    Mutant("gram_loss_minus_chance", "gram.py",
           "terms.append(symmetric_cross_entropy(gram_logits(anchor, others, logit_scale, "
           "eps=eps)))",
           "terms.append(symmetric_cross_entropy(gram_logits(anchor, others, logit_scale, "
           f"eps=eps)) - {_LOG_N})",
           (GRAM + "loss_is_finite_and_nonnegative",)),
    Mutant("infonce_one_direction", "gram.py",
           "return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))",
           "return F.cross_entropy(logits, labels)",
           (GRAM + "loss_matches_the_symmetric_infonce_written_out",
            TRI + "loss_matches_the_symmetric_infonce_written_out")),
    Mutant("infonce_doubled", "gram.py",
           "return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))",
           "return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))",
           (GRAM + "identical_rows_give_log_batch", TRI + "identical_rows_give_log_batch")),
    Mutant("precision_autocast_kept", "_precision.py",
           "return torch.autocast(device_type=ref.device.type, enabled=False)",
           "return torch.autocast(device_type=ref.device.type, dtype=torch.bfloat16,"
           " enabled=torch.is_autocast_enabled(ref.device.type))",
           (GRAM + "runs_in_float32_under_bf16_autocast",
            TRI + "runs_in_float32_under_bf16_autocast")),
    Mutant("precision_always_float32", "_precision.py",
           "return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else "
           "torch.float32", "return torch.float32",
           (GRAM + "half_precision_inputs_are_widened_and_float64_stays",
            TRI + "float64_stays_float64")),
    Mutant("triangle_side_of_another_tuple", "triangle.py", "w = c - b", "w = c - b.roll(1, 0)",
           (TRI + "efficient_form_equals_the_direct_form_values_and_gradients",)),
    Mutant("triangle_detached_side", "triangle.py", "ab = sides.b @ anchor.T",
           "ab = sides.b.detach() @ anchor.T",
           (TRI + "efficient_form_equals_the_direct_form_values_and_gradients",)),
    Mutant("triangle_cross_term_sign", "triangle.py", "uw = aw - sides.bw",
           "uw = aw + sides.bw", (TRI + "collinear_points_have_zero_area",)),
    Mutant("triangle_side_from_the_origin", "triangle.py", "(w * w).sum(dim=-1, keepdim=True)",
           "(c * c).sum(dim=-1, keepdim=True)",
           (TRI + "area_symmetric_under_any_permutation_of_the_vertices",)),
    Mutant("triangle_surrogate_without_half", "triangle.py",
           "return 0.5 * det if squared else", "return det if squared else",
           (TRI + "half_base_times_height_on_hand_built_triangles",)),
    Mutant("triangle_sqrt_without_eps", "triangle.py", "0.5 * (det + eps).sqrt()",
           "0.5 * det.sqrt()", (TRI + "identical_vertices_give_finite_gradients",)),
    Mutant("triangle_normalised_vertices", "triangle.py",
           "sides = TupleSides.of(b.to(dt), c.to(dt))\n        return _finish(",
           "b, c, anchor = (torch.nn.functional.normalize(x.to(dt), dim=-1) for x in (b, c, "
           "anchor))\n        sides = TupleSides.of(b, c)\n        return _finish(",
           (TRI + "invariant_to_translating_all_three_points",)),
    Mutant("triangle_l1_norm", "triangle.py", "aa = (anchor * anchor).sum(dim=-1)[None]",
           "aa = (anchor.abs().sum(dim=-1) ** 2)[None]", (TRI + "invariant_to_rotations",)),
    Mutant("triangle_scores_sign", "triangle.py", "parts = [-_finish(",
           "parts = [_finish(",
           (TRI + "retrieval_argmax_is_the_training_logits_argmax_for_any_scale",)),
    Mutant("triangle_chunks_reordered", "triangle.py", "return torch.cat(parts, dim=1)  # (B, C)",
           "return torch.cat(parts[::-1], dim=1)  # (B, C)",
           (TRI + "scores_are_minus_the_area_of_each_pair",)),
    Mutant("triangle_loss_minus_chance", "triangle.py",
           "terms.append(symmetric_cross_entropy(logits))",
           f"terms.append(symmetric_cross_entropy(logits) - {_LOG_N})",
           (TRI + "loss_is_finite_and_nonnegative",)),
    Mutant("triangle_loss_ignores_squared", "triangle.py",
           "logits = triangle_logits(anchor, b, c, logit_scale, squared=squared, eps=eps,",
           "logits = triangle_logits(anchor, b, c, logit_scale, squared=True, eps=eps,",
           (TRI + "loss_matches_the_symmetric_infonce_written_out",)),
    Mutant("triangle_reference_form_fixed", "triangle.py",
           "ab, ac, bc = a @ b.T, a @ c.T, b @ c.T",
           "ab, ac, bc = a @ b.T, a @ c.T, (b * c).sum(dim=-1)[None]",
           (TRI + "the_reference_form_differs_off_the_diagonal_only",)),
)


def _copy_project(dest: Path) -> None:
    for name in ("robustlab", "perturbations"):
        shutil.copytree(ROOT / name, dest / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests" / "core", dest / "tests" / "core",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "tests" / "conftest.py", dest / "tests" / "conftest.py")
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")


def run(mutant: Mutant) -> str:
    with tempfile.TemporaryDirectory(prefix="mutant-") as tmp:
        dest = Path(tmp)
        _copy_project(dest)
        target = dest / "robustlab" / "core" / mutant.file
        source = target.read_text()
        if source.count(mutant.old) != 1:
            return "STALE (snippet not found exactly once)"
        target.write_text(source.replace(mutant.old, mutant.new))
        env = {**os.environ, "PYTHONPATH": str(dest)}
        survivors, reasons = [], []
        for test in mutant.tests:
            proc = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                 f"tests/core/{test}"], cwd=dest, env=env, capture_output=True, text=True)
            if proc.returncode != 1:  # 1 = tests failed; 0 = passed; else = broken run
                survivors.append(f"{test} (exit {proc.returncode})")
            errors = [line[1:].strip() for line in proc.stdout.splitlines()
                      if line.startswith("E ")]
            reasons.append(errors[0][:70] if errors else "?")
        if survivors:
            return "SURVIVED: " + ", ".join(survivors)
        return "killed  [" + " | ".join(reasons) + "]"


def main() -> int:
    selected = [m for m in MUTANTS if not sys.argv[1:] or any(a in m.name for a in sys.argv[1:])]
    bad = 0
    for mutant in selected:
        verdict = run(mutant)
        bad += not verdict.startswith("killed")
        print(f"{mutant.name:<28} {verdict}", flush=True)
    print(f"{len(selected) - bad}/{len(selected)} mutants killed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
