"""Weight gradients formed once per chunk of steps, not once per step.

Autodiff of a loop written out step by step forms every weight's gradient at every
step: for each matmul ``y_t = a_t @ W`` it computes ``a_tᵀ @ dy_t``, then sums the
steps. The inner dimension of those matmuls is the batch, and a thin matmul runs far
below the machine's peak (figures: ``docs/speed.md``, "How the loops were tuned").
:func:`defer_weight_gradients` wraps a chunk of steps so that autodiff keeps everything
else (the elementwise backward, the state and input gradients) and each weight's
gradient is one matmul over the chunk::

    dW = [a_1; a_2; ...; a_k]ᵀ @ [dy_1; dy_2; ...; dy_k]      # [in, k*batch] @ [k*batch, out]

The chunk hands its steps a ``matmul`` argument (the cells' ``forward(..., matmul)``):
it computes ``a @ w`` with no gradient to ``w`` and records ``(a, w, y)``, so autodiff
forms no per-step weight gradient, and the chunk adds ``dW`` itself. Anything else a
weight feeds (a bias, or the weight before a slice or a cast to the compute dtype) keeps
autodiff's gradient. The product's gradient with respect to ``a``, ``da = dy @ wᵀ``,
multiplies by a ``wᵀ`` transposed once per chunk: autodiff's ``MatMul(dy, w,
transpose_b=True)`` runs far slower at the large bench size's ``[64, 1024] @ [1024,
256]`` (``docs/speed.md``, "The backward chain against a transposed weight"; under
Grappler, which lowlevel's training steps skip, the transpose would be folded back into
the matmul). Equal to autodiff's gradients: ``tests/loops/test_weight_gradients.py``.
"""

from __future__ import annotations

import tensorflow as tf


def _product(a, w, w_t):
    """``y = a @ w``; its gradient: ``da = dy @ w_t`` (``w_t = wᵀ``), none to ``w``.

    ``w`` and ``w_t`` are captured, not arguments: a ``None`` gradient for an argument
    becomes a tensor of zeros the size of the weight, filled at every step.
    """

    @tf.custom_gradient
    def product(a):
        return tf.matmul(a, w), lambda dy: tf.matmul(dy, w_t)

    return product(a)


def _recorder():
    """``(matmul, matmuls)``: a ``matmul(a, w)`` that records ``(a, w, y)`` in ``matmuls``.

    Each distinct ``w`` is transposed once, the first time it is multiplied.
    """
    matmuls, transposed = [], {}

    def matmul(a, w):
        if w.ref() not in transposed:
            transposed[w.ref()] = tf.transpose(w)
        y = _product(a, w, transposed[w.ref()])
        matmuls.append((a, w, y))
        return y

    return matmul, matmuls


def _weight_gradients(matmuls, d_outputs):
    """``[(w, dW)]``, one per distinct ``w``: ``dW = Σ_t a_tᵀ dy_t`` as one matmul."""
    groups = {}
    for (a, w, _), dy in zip(matmuls, d_outputs):
        _, lhs, rhs = groups.setdefault(w.ref(), (w, [], []))
        lhs.append(a)
        rhs.append(dy)
    return [(w, tf.matmul(tf.concat(lhs, 0), tf.concat(rhs, 0), transpose_a=True))
            for w, lhs, rhs in groups.values()]


def defer_weight_gradients(fn):
    """``fn(*args, matmul=...) -> nest of tensors`` with its weight gradients formed per call.

    ``fn`` forms every product with a weight as ``matmul(a, w)``; the returned function
    takes ``fn``'s other arguments and passes a recording ``matmul``. ``args`` and the
    result may be nests holding ``None``. The weights whose gradients are formed per call
    come in through ``args`` (read variables); a variable ``fn`` reads itself, or a
    weight it multiplies with plain ``@``, keeps autodiff's per-step gradient.
    """

    def call(*args):
        flat_args = tf.nest.flatten(args)
        present = [i for i, arg in enumerate(flat_args) if arg is not None]
        result_structure = []

        @tf.custom_gradient
        def run(*tensors):
            flat = list(flat_args)
            for i, tensor in zip(present, tensors):
                flat[i] = tensor
            sources = [t for t in tensors if t.dtype.is_floating]
            matmul, matmuls = _recorder()
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(sources)
                result = fn(*tf.nest.pack_sequence_as(args, flat), matmul=matmul)
            result_structure.append(result)
            outputs = [r for r in tf.nest.flatten(result) if r is not None]

            def grad(*d_outputs, variables=None):
                # `variables`: any variable the steps read themselves (a cell of one's
                # own with weights beyond step_weights); autodiff's gradients for them.
                wrt = sources + list(variables or [])
                d_outputs = [tf.zeros_like(o) if d is None else d
                             for o, d in zip(outputs, d_outputs)]
                ys = [y for _, _, y in matmuls]
                grads = tape.gradient(outputs, ys + wrt, output_gradients=d_outputs,
                                      unconnected_gradients=tf.UnconnectedGradients.ZERO)
                d_ys, d_wrt = grads[:len(ys)], grads[len(ys):]
                if matmuls:
                    # Through whatever made each weight from the arguments (nothing, a
                    # slice, a cast): the tape's gradient of w with respect to them. Only
                    # the weights' own arguments receive one (no zeros added to the rest).
                    weights, d_weights = zip(*_weight_gradients(matmuls, d_ys))
                    through = tape.gradient(list(weights), wrt, output_gradients=list(d_weights))
                    d_wrt = [d if e is None else d + e for d, e in zip(d_wrt, through)]
                d_sources = iter(d_wrt[:len(sources)])
                d_inputs = [next(d_sources) if t.dtype.is_floating else None for t in tensors]
                if variables is None:
                    return d_inputs
                return d_inputs, d_wrt[len(sources):]

            return outputs, grad

        outputs = iter(run(*[flat_args[i] for i in present]))
        result = result_structure[-1]
        return tf.nest.pack_sequence_as(
            result, [None if r is None else next(outputs) for r in tf.nest.flatten(result)])

    return call
