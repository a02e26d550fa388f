"""Cart abandonment: a PyTorch sequence model that predicts which carts will be abandoned.

Public API (also importable from ``core``): :func:`cart_sessions`, :func:`load_bundled_model`,
:func:`score_carts`, :func:`train_model`, :func:`evaluate`, :func:`explain`,
:class:`ModelCard`, :class:`Metrics`, plus :func:`save_model` / :func:`load_model` to store a
dataset's own model. The task is defined in ``docs/cart_abandonment.md``.

``train_model`` and ``training_refusal`` are resolved lazily so that ``python -m
core.cart.train`` (the training command) runs its module only once.
"""

from __future__ import annotations

import importlib
from typing import Any

from core.cart.card import ModelCard
from core.cart.evaluate import Metrics, evaluate
from core.cart.explain import explain
from core.cart.features import MIN_LABELLED_CARTS, cart_sessions
from core.cart.model import CartModel, load_bundled_model, load_model, save_model
from core.cart.score import revenue_at_risk, score_carts

_LAZY = {"train_model": "core.cart.train", "training_refusal": "core.cart.train"}

__all__ = [
    "MIN_LABELLED_CARTS",
    "CartModel",
    "Metrics",
    "ModelCard",
    "cart_sessions",
    "evaluate",
    "explain",
    "load_bundled_model",
    "load_model",
    "revenue_at_risk",
    "save_model",
    "score_carts",
    "train_model",
    "training_refusal",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'core.cart' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
