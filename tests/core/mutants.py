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
    Mutant("symile_double_positive", "symile.py", "return (total - positive).mean()",
           "return (total - 2 * positive).mean()", (SYM + "loss_is_finite_and_nonnegative",)),
    Mutant("symile_extra_logit", "symile.py",
           "total = torch.logsumexp(torch.stack(chunk_lse, dim=1), dim=1)",
           "total = torch.logsumexp(torch.stack([*chunk_lse, chunk_lse[0]], dim=1), dim=1)",
           (SYM + "identical_embeddings_give_log_of_the_number_of_candidates",)),
    Mutant("symile_rolled_positive", "symile.py",
           "    positive = scale * mip(anchor, *others)  # (N,)\n    return (total",
           "    positive = scale * mip(anchor, others[0].roll(1, 0), *others[1:])\n"
           "    return (total",
           (SYM + "n_squared_invariant_to_jointly_permuting_the_batch",)),
    Mutant("symile_weighted_anchors", "symile.py", "    return terms\n",
           "    return [t * (i + 1) for i, t in enumerate(terms)]\n",
           (SYM + "n_squared_invariant_to_reordering_the_modalities",)),
    Mutant("symile_chunk_drops_a_row", "symile.py",
           "rows = torch.arange(start, min(start + chunk_size, num_prefix), device=anchor.device)",
           "rows = torch.arange(start, max(start + 1, min(start + chunk_size, num_prefix)"
           " - (num_prefix > chunk_size)), device=anchor.device)",
           (SYM + "chunked_equals_unchunked_values_and_gradients",)),
    Mutant("symile_backward_halved", "symile.py",
           "return (full[0], full[1], full[2], None, *full[3:])",
           "return (None if full[0] is None else full[0] / 2, full[1], full[2], None,"
           " *full[3:])",
           (SYM + "chunked_equals_unchunked_values_and_gradients",)),
    Mutant("clip_one_direction", "clip.py",
           "return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))",
           "return F.cross_entropy(logits, labels)",
           ("test_clip.py::test_clip_loss_symmetric_in_modality_order",
            "test_clip.py::test_clip_loss_of_two_modalities_is_info_nce")),
    Mutant("gate_no_null_discount", "gate.py",
           "w = w * (1 - p_null)[..., None] if self.use_null else w", "w = w",
           (GATE + "keep_weights_in_unit_interval_and_at_most_one_minus_p_null",)),
    Mutant("gate_candidate_normalised", "gate.py",
           "                beta = self._beta(self._keep(target, ctx, keys, chunk, mask, False))",
           "                chunk = F.normalize(chunk, dim=-1)\n"
           "                beta = self._beta(self._keep(target, ctx, keys, chunk, mask, False))",
           (GATE + "target_embedding_is_never_gated",)),
    Mutant("gate_beta_offset", "gate.py", "return self.alpha(kw.w.dtype) * (1 - kw.w)",
           "return self.alpha(kw.w.dtype) * (1 - kw.w) + 0.05",
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
           "return [F.normalize(e @ self.key[i].to(e.dtype).T, dim=-1, eps=self.eps)",
           "return [(e @ self.key[i].to(e.dtype).T)",
           (GATE + "keep_weights_invariant_to_positive_rescaling",)),
    Mutant("gate_null_misaligned", "gate.py",
           "null = null.expand(batch, -1) if not per_pair else null",
           "null = null.flip(-1).expand(batch, -1) if not per_pair else null",
           (FORMS + "permuting_the_batch_permutes_the_outputs",)),
    Mutant("gate_pair_keys_mixed", "gate.py",
           'sims = [torch.einsum("bck,bk->bc", q, k) for k in keys]',
           'sims = [torch.einsum("bck,bk->bc", q, k.mean(0, keepdim=True).expand_as(k))'
           " for k in keys]",
           (FORMS + "flattened_tuples_equal_each_tuple_alone",)),
    Mutant("gate_unclamped_norm", "gate_scoring.py",
           "norm = norm * sq.clamp_min(eps * eps).sqrt()", "norm = norm * sq.sqrt()",
           (FORMS + "zero_norm_inputs_give_finite_scores_and_gradients",)),
    Mutant("gate_autocast_kept", "gate.py",
           "return torch.autocast(device_type=ref.device.type, enabled=False)",
           "return torch.autocast(device_type=ref.device.type, dtype=torch.bfloat16,"
           " enabled=torch.is_autocast_enabled(ref.device.type))",
           (FORMS + "gate_runs_in_float32_under_bf16_autocast",)),
    Mutant("gate_fast_swapped_coef", "gate_scoring.py",
           "coef = coef * (beta[..., m] if s >> m & 1 else keep[..., m])",
           "coef = coef * (keep[..., m] if s >> m & 1 else beta[..., m])",
           (FORMS + "fast_equals_direct_forward_and_backward",)),
    Mutant("gate_fast_detached_norm", "gate_scoring.py", "return total / norm",
           "return total / norm.detach()", (FORMS + "fast_equals_direct_forward_and_backward",)),
    Mutant("gate_temperature_offset", "gate.py", "return F.softplus(self.log_temp.to(dtype)) + 0.1",
           "return F.softplus(self.log_temp.to(dtype)) + 0.2",
           (GATE + "score_matches_the_design_formula_written_out",)),
    Mutant("gate_null_unscaled", "gate.py",
           "return (head + self.null_bias[target].to(dt)) / tau",
           "return head + self.null_bias[target].to(dt)",
           (GATE + "score_matches_the_design_formula_written_out",)),
    Mutant("loss_transposed", "gated_loss.py",
           "logits = logit_scale * gate.score(target, context, cand, context_mask=ctx_mask)",
           "logits = logit_scale * gate.score(target, context, cand, context_mask=ctx_mask).T",
           (LOSS + "whole_batch_loss_is_the_per_pair_cross_entropy",)),
    Mutant("loss_extra_candidate", "gated_loss.py",
           "idx = torch.cat([pos[:, None], neg], dim=1)",
           "idx = torch.cat([pos[:, None], neg, neg[:, :1]], dim=1)",
           (LOSS + "identical_candidates_give_log_of_k_plus_one",)),
    Mutant("loss_global_rng", "gated_loss.py",
           "neg = torch.randint(0, batch - 1, (batch, k), generator=generator,",
           "neg = torch.randint(0, batch - 1, (batch, k),",
           (LOSS + "sampled_negatives_reproducible_and_finite",)),
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
