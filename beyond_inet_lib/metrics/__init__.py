"""Pure metric functions: arrays / DataFrames in, numbers / DataFrames out.

One module per task, each function stating its formula and naming its section of
``docs/protocols.md``:

- ``classification``  softmax (with a class mask), argmax over a mask, top-1, confidence, multi-label top-1
- ``calibration``     ECE (plug-in and debiased), the test of perfect calibration, reliability bins,
                      confidence histogram; NLL, Brier, equal-mass ECE, ACE, classwise ECE,
                      QUBA's calibration error
- ``consistency``     error consistency (Cohen's kappa on right / wrong), of many decision makers at once, its means over observers
- ``temperature``     temperature scaling: the fit, the two-fold protocol
- ``selective``       risk-coverage curve, AURC, E-AURC, accuracy at a coverage
- ``ood``             out-of-distribution scores (MSP, max logit, energy), AUROC, FPR at 95% TPR
- ``shape_bias``      cue-conflict decisions, shape bias (from each trial's votes), per-trial correctness
- ``model_vs_human``  16-class accuracy, error consistency averaged over levels, model-vs-human's summary
- ``imagenet_x``      error ratios per factor (every model at once), factor prevalence
- ``robustness``      ImageNet-C mean of means, the seven-variant average
- ``synthetic``       PUG-ImageNet accuracy per factor
- ``invariance``      accuracy / true-class probability per transform value
- ``cka``             linear CKA (and from unbiased HSIC), layer x layer matrices, the mean CKA to the other models
- ``linear_probe``    the transfer probe (CLIP_benchmark's protocol, or a logistic regression)

Nothing here loads a model, reads an image or touches a GPU, with one exception: the linear
probe may train on a CUDA ``device``. Conventions: accuracies, biases and calibration errors
are fractions in [0, 1] (the paper prints %); class indices are ImageNet-1k indices (0..999)
unless a function says otherwise. Call them as ``metrics.<function>``.
"""

from .calibration import (adaptive_calibration_error, brier_score, brier_terms,
                          class_calibration_replicates, classwise_calibration_error, equal_mass_calibration_error,
                          negative_log_likelihood, nll_terms, quba_calibration_error)
from .calibration import (BIN_SUMS, bin_index, bin_sums, calibration_errors_from_sums, calibration_test,
                          confidence_histogram, debiased_calibration_error, expected_calibration_error,
                          EqualMassCalibrationError, ExpectedCalibrationError, Mean, label_nll,
                          reliability_bins)
from .cka import (centred_gram, cka_matrix, gram, hsic_unbiased, linear_cka, mean_cka_to_others, mean_to_others,
                  unbiased_cka, unbiased_cka_matrix)
from .classification import (argmax_over_mask, label_probability, masked_softmax_confidence, softmax_top,
                             multilabel_top1, softmax, top1)
from .classification import mask_positions
from .consistency import consistency_matrix, error_consistency, expected_consistency, mean_kappas, pairwise_kappas
from .imagenet_x import (error_ratios, factor_error_ratios, factor_prevalence, imagenet_x_error_ratios,
                         mean_error_ratio, mean_error_ratios)
from .invariance import invariance_curve
from .linear_probe import (CLIP_BENCHMARK_WEIGHT_DECAYS, DEFAULT_C_GRID, PROTOCOLS as PROBE_PROTOCOLS,
                           l2_normalise, linear_probe, search_weight_decay, train_linear_adamw,
                           train_linear_adamw_many)
from .model_vs_human import benchmark_summary, consistency_over_levels, sixteen_class_accuracy, sixteen_class_correct
from .ood import OOD_SCORES, auroc, fpr_at_tpr, ood_detection, ood_replicates, ood_scores
from .robustness import ROBUSTNESS_VARIANTS, imagenet_c_summary, robustness_average
from .selective import (SelectiveStatistic, SelectiveStatistics, aurc, excess_aurc, oracle_aurc, risk_coverage_curve,
                        selective_accuracy)
from .shape_bias import (cue_conflict_categories, cue_conflict_category_indices,
                         cue_conflict_correct, cue_conflict_decisions, cue_conflict_shape_texture,
                         cue_conflict_stimulus, cue_votes, shape_bias, shape_bias_from_votes,
                         shape_bias_per_category)
from .synthetic import pug_factor_accuracy
from .temperature import (TEMPERATURE_BOUNDS, TwoFold, cross_fitted_temperatures, fit_temperature,
                          scaled_confidence_and_nll, temperature_nll, two_fold_score, two_fold_split)

__all__ = [
    "BIN_SUMS", "bin_index", "bin_sums", "calibration_errors_from_sums", "calibration_test",
    "debiased_calibration_error",
    "CLIP_BENCHMARK_WEIGHT_DECAYS", "DEFAULT_C_GRID", "PROBE_PROTOCOLS", "ROBUSTNESS_VARIANTS",
    "argmax_over_mask", "centred_gram", "cka_matrix", "confidence_histogram", "cue_conflict_categories",
    "cue_conflict_category_indices", "cue_conflict_correct", "cue_conflict_decisions",
    "cue_conflict_shape_texture", "cue_conflict_stimulus", "cue_votes", "error_consistency", "error_ratios",
    "EqualMassCalibrationError", "expected_calibration_error", "ExpectedCalibrationError", "factor_error_ratios", "factor_prevalence", "gram", "imagenet_c_summary",
    "imagenet_x_error_ratios", "invariance_curve", "l2_normalise", "linear_cka", "linear_probe",
    "label_nll", "label_probability", "masked_softmax_confidence", "Mean", "softmax_top", "mean_cka_to_others", "mean_error_ratio", "mean_error_ratios", "mean_kappas",
    "multilabel_top1", "pairwise_kappas", "pug_factor_accuracy", "reliability_bins", "robustness_average",
    "search_weight_decay", "shape_bias", "shape_bias_from_votes", "shape_bias_per_category", "softmax", "top1",
    "train_linear_adamw", "train_linear_adamw_many",
    # confidence you can trust: proper scores, other binnings, temperature, selective, OOD
    "OOD_SCORES", "TEMPERATURE_BOUNDS", "adaptive_calibration_error", "aurc", "auroc", "brier_score",
    "brier_terms", "class_calibration_replicates", "classwise_calibration_error", "cross_fitted_temperatures",
    "equal_mass_calibration_error", "excess_aurc", "fit_temperature", "fpr_at_tpr", "scaled_confidence_and_nll", "mask_positions",
    "negative_log_likelihood", "nll_terms", "ood_detection", "ood_replicates", "ood_scores", "oracle_aurc",
    "quba_calibration_error", "risk_coverage_curve", "selective_accuracy", "SelectiveStatistic", "SelectiveStatistics", "temperature_nll",
    "two_fold_score", "two_fold_split", "TwoFold",
    "benchmark_summary", "consistency_matrix", "consistency_over_levels", "expected_consistency",
    "sixteen_class_accuracy", "sixteen_class_correct",
    "hsic_unbiased", "mean_to_others", "unbiased_cka", "unbiased_cka_matrix",
]
