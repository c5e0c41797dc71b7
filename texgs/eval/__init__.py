"""Evaluation helpers for texgs: image quality metrics (:mod:`texgs.eval.metrics`) and the
fixed-rate / variable-rate formats texgs is compared against (:mod:`texgs.eval.baselines`).
"""
