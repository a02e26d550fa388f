"""Cart abandonment: a PyTorch sequence model that predicts which carts will be abandoned.

Modules: ``params`` (:class:`CartParams`, :class:`TrainParams`: the settings, validated once),
``engine`` (scoring a dataset: :func:`score_carts`, :func:`cart_status`,
:func:`revenue_at_risk`, and :func:`run` that gives a :class:`CartResult`), ``features`` (the
task: prepared events, prefixes, model arrays), ``model`` (the network, saving and loading),
``train``, ``mix`` and ``sources`` (the bundled model's training on several shops),
``evaluate`` (held-out figures against two baselines) and ``stats`` (their statistics),
``choose`` (:func:`choose_model`: measure the bundled model on the data, train one for it when
needed, use the best), ``explain`` and ``reasons`` (why a cart is at risk), ``card``, ``registry``
(retrained models) and ``figures``.

Public API (also importable from ``core``): :func:`cart_sessions`, :func:`load_bundled_model`,
:func:`score_carts`, :func:`cart_status` (open carts versus history), :func:`train_model`,
:func:`evaluate`, :func:`chance_warning`, :func:`choose_model` / :class:`ModelChoice` /
:func:`train_for_dataset`, :func:`value_scale`, :func:`explain`, :func:`explain_reasons` (business
reasons with their effect on the risk), :class:`ModelCard`, :class:`Metrics`, plus
:func:`save_model` / :func:`load_model`, and :func:`save_retrained` / :func:`load_retrained` to
keep a model retrained on a dataset and its filters beside the bundled one. The task is defined in ``docs/cart_abandonment.md``.

``train_model`` and ``training_refusal`` are resolved lazily so that ``python -m
core.cart.train`` (the training command) runs its module only once.
"""

from __future__ import annotations

import importlib
from typing import Any

from core.cart.card import ModelCard
from core.cart.choose import ModelChoice, choose_model, train_for_dataset
from core.cart.engine import CartResult, cart_status, revenue_at_risk, score_carts
from core.cart.evaluate import Metrics, chance_warning, evaluate
from core.cart.explain import explain
from core.cart.features import MIN_LABELLED_CARTS, ValueScale, cart_sessions, value_scale
from core.cart.model import CartModel, load_bundled_model, load_model, save_model
from core.cart.params import CART_STATUSES, CartParams, TrainParams
from core.cart.reasons import explain_reasons
from core.cart.registry import load_retrained, retrained_model_dir, save_retrained

_LAZY = {"train_model": "core.cart.train", "training_refusal": "core.cart.train"}

__all__ = [
    "CART_STATUSES",
    "MIN_LABELLED_CARTS",
    "CartModel",
    "ModelChoice",
    "ValueScale",
    "CartParams",
    "CartResult",
    "Metrics",
    "ModelCard",
    "cart_sessions",
    "cart_status",
    "chance_warning",
    "choose_model",
    "evaluate",
    "explain",
    "explain_reasons",
    "load_bundled_model",
    "load_model",
    "load_retrained",
    "retrained_model_dir",
    "revenue_at_risk",
    "save_model",
    "save_retrained",
    "score_carts",
    "TrainParams",
    "train_for_dataset",
    "train_model",
    "value_scale",
    "training_refusal",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'core.cart' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
