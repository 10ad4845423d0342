"""Gradients on the active backend, for tests only (the package stays
backend-free)."""

import keras
import numpy as np


def value_and_grads(fn, *args, wrt=(0,), jit=False):
    """Returns `(fn(*args), [d sum(w * fn) / d args[k] for k in wrt])`.

    The output is weighted by a fixed random vector so that every per-sample
    value contributes a distinct gradient. All outputs are numpy. With
    `jit`, value and gradient are computed by one compiled function, as in
    a compiled train step (`compiled` below, applied to the whole).
    """
    backend = keras.backend.backend()
    args = [np.asarray(a) for a in args]

    def weighted(out):
        w = np.linspace(0.5, 1.5, int(np.prod(out.shape)), dtype="float32")
        return keras.ops.sum(keras.ops.multiply(out, w))

    if backend == "jax":
        import jax

        def total(*xs):
            out = fn(*xs)
            return weighted(out), out

        grad_fn = jax.value_and_grad(total, argnums=tuple(wrt), has_aux=True)
        grad_fn = jax.jit(grad_fn) if jit else grad_fn
        (_, out), grads = grad_fn(*[jax.numpy.asarray(a) for a in args])
    elif backend == "tensorflow":
        import tensorflow as tf

        def tf_grads(*xs):
            with tf.GradientTape() as tape:
                for k in wrt:
                    tape.watch(xs[k])
                out = fn(*xs)
                total = weighted(out)
            return out, tape.gradient(total, [xs[k] for k in wrt])

        tf_grads = tf.function(tf_grads, jit_compile=False) if jit else tf_grads
        out, grads = tf_grads(*[tf.constant(a) for a in args])
    else:
        import torch

        xs = [torch.tensor(a) for a in args]
        for k in wrt:
            if xs[k].is_floating_point():
                xs[k].requires_grad_(True)
        out = (compiled(fn) if jit else fn)(*xs)
        grads = torch.autograd.grad(weighted(out), [xs[k] for k in wrt])
    to_np = keras.ops.convert_to_numpy
    return to_np(out), [to_np(g) for g in grads]


def compiled(fn):
    """`fn` under the backend's compiler: `jax.jit`, `tf.function`, and
    `torch.compile` (graph capture and AOT autograd, without inductor's C++
    build: what a traced step sees, at a test's cost)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(fn)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=False)
    import torch

    return torch.compile(fn, backend="aot_eager")
