"""Loss kernels against their floor: the bare B x M similarity matmul.

Forward + backward (gradients to the student, teacher and reference
embeddings, as in the Distiller) of `crd`, `supcrd` and
`logit_weighted_supcrd` (both forms) at B=256, d=128, C=100 and reference
sets of K rows, in the mode `fit` uses by default on CPU (JAX `jit`,
TensorFlow `tf.function`, torch eager) and, with `--modes`, the modes of
`jit_compile=True` (TensorFlow XLA, `torch.compile`), timed round-robin
in one process with:

- `matmul`: `sum(s @ concat(t, r).T)`, the floor every form must pay;
- `naive_lw`: the logit-weighted loss as users write it in the SupContrast
  style (full B x M masks, exp, weighted sums, an epsilon in the log);
- `supcrd_autodiff`, `lw_autodiff`: ours with the hand-written gradient of
  the two masked logsumexps replaced by autodiff of the same maths.

Memory: on JAX the compiled peak temporary memory of each variant (XLA's
memory analysis); on TensorFlow and PyTorch the growth of the peak resident
set over three calls after a warm-up call, each variant in a fresh process
(Linux `clear_refs`; coarser, since it includes allocator slack).

Run: KERAS_BACKEND=jax python benchmarks/loss_speed.py [--quick]
     KERAS_BACKEND=torch python benchmarks/loss_speed.py --modes eager,compile
"""

import argparse
import os
import subprocess
import sys

import keras
import numpy as np
from keras import ops

sys.path.insert(0, os.path.dirname(__file__))
from _common import describe, emit, interleaved  # noqa: E402

from keras_supcrd import losses  # noqa: E402


def matmul(s, t, y, z, r, ry):
    return ops.sum(ops.matmul(s, ops.transpose(ops.concatenate([t, r], 0))))


def naive_lw(s, t, y, z, r, ry, alpha=1.0, beta=8.0, tau=0.07, kd_t=4.0):
    """The SupContrast way: dense masks and probabilities, eps in the log."""
    c = ops.concatenate([t, r], 0)
    yc = ops.concatenate([y, ry], 0)
    s = s / ops.norm(s, axis=1, keepdims=True)
    c = c / (ops.norm(c, axis=1, keepdims=True) + 1e-12)
    logits = ops.matmul(s, ops.transpose(c)) / tau
    logits = logits - ops.stop_gradient(ops.max(logits, 1, keepdims=True))
    same = ops.cast(y[:, None] == yc[None, :], "float32")
    valid = ops.cast(yc != -1, "float32")[None, :]
    p = ops.softmax(z / kd_t, axis=-1)
    w_push = beta * (1.0 - ops.take(p, ops.maximum(yc, 0), axis=1))
    e = ops.exp(logits) * valid
    p_y = ops.take_along_axis(p, y[:, None], axis=1)[:, 0]
    pos = alpha * p_y * ops.sum(e * same, 1)
    neg = ops.sum(e * w_push * (1.0 - same), 1)
    return ops.mean(-ops.log(pos / (pos + neg) + 1e-12))


def autodiff(fn):
    """`fn` with the losses' logsumexps differentiated by autodiff."""
    def run(*args):
        with losses.autodiff_gradient():
            return fn(*args)

    return run


def ours(fn, **kwargs):
    def total(s, t, y, z, r, ry):
        return ops.mean(fn(s, t, y, z, r, ry, **kwargs))

    return total


VARIANTS = {
    "matmul": matmul,
    "crd": ours(lambda s, t, y, z, r, ry: losses.crd(
        s, t, ref_embeddings=r, ref_labels=ry)),
    "supcrd": ours(lambda s, t, y, z, r, ry: losses.supcrd(
        s, t, y, ref_embeddings=r, ref_labels=ry)),
    "lw": ours(lambda s, t, y, z, r, ry: losses.logit_weighted_supcrd(
        s, t, y, z, ref_embeddings=r, ref_labels=ry)),
    "lw_decoupled": ours(lambda s, t, y, z, r, ry:
                         losses.logit_weighted_supcrd(
                             s, t, y, z, ref_embeddings=r, ref_labels=ry,
                             decoupled=True)),
    "naive_lw": naive_lw,
}
VARIANTS["supcrd_autodiff"] = autodiff(VARIANTS["supcrd"])
VARIANTS["lw_autodiff"] = autodiff(VARIANTS["lw"])


MODES = {"jax": ("jit",), "tensorflow": ("function", "xla"),
         "torch": ("eager", "compile")}


def compile_grad(fn, args, mode=None):
    """Forward + backward w.r.t. s, t and r, compiled the way `mode` says.

    The first mode of a backend in `MODES` is what `fit` uses by default
    on a CPU machine; `xla` is `tf.function(jit_compile=True)` and
    `compile` is `torch.compile` of the loss (its backward compiled by
    AOTAutograd), what `jit_compile=True` gives each.
    """
    backend = keras.backend.backend()
    mode = mode or MODES[backend][0]
    if backend == "jax":
        import jax

        step = jax_step(fn)
        lowered = step.lower(*args).compile()
        memory = lowered.memory_analysis()
        temp = getattr(memory, "temp_size_in_bytes", None)
        return (lambda: jax.block_until_ready(step(*args))), temp
    if backend == "tensorflow":
        import tensorflow as tf

        step = tf.function(tf_step(fn), jit_compile=mode == "xla")
        return (lambda: [g.numpy() for g in step(*args)[1]]), None
    import torch

    if mode == "compile":
        fn = torch.compile(fn)

    def run():
        s, t, r = (a.detach().requires_grad_(True) for a in
                   (args[0], args[1], args[4]))
        value = fn(s, t, args[2], args[3], r, args[5])
        return torch.autograd.grad(value, [s, t, r])

    return run, None


def jax_step(fn):
    import jax

    return jax.jit(jax.value_and_grad(fn, argnums=(0, 1, 4)))


def tf_step(fn):
    """`fn`'s value and gradients w.r.t. s, t and r (wrap in tf.function)."""
    import tensorflow as tf

    def step(s, t, y, z, r, ry):
        with tf.GradientTape() as tape:
            tape.watch([s, t, r])
            value = fn(s, t, y, z, r, ry)
        return value, tape.gradient(value, [s, t, r])

    return step


def variant_name(name, mode):
    """`name` in the backend's default mode, else `name@mode`."""
    default = MODES[keras.backend.backend()][0]
    return name if mode == default else f"{name}@{mode}"


def inputs(batch, dim, classes, k, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [
        rng.normal(size=(batch, dim)).astype("float32"),
        rng.normal(size=(batch, dim)).astype("float32"),
        rng.integers(0, classes, batch).astype("int32"),
        (3 * rng.normal(size=(batch, classes))).astype("float32"),
        rng.normal(size=(k, dim)).astype("float32"),
        rng.integers(-1, classes, k).astype("int32"),
    ]
    return [ops.convert_to_tensor(a) for a in arrays]


def _resident_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_resident_bytes():
    with open("/proc/self/status") as f:
        line = next(l for l in f if l.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def peak_growth_mib(name, shape):
    """Run in a child process: peak RSS growth of three calls of `name`
    (in the backend's default mode)."""
    data = inputs(*shape)
    step, _ = compile_grad(VARIANTS[name], data)
    step()  # tracing and first allocations happen outside the measure
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM, the peak RSS, to the current RSS
    before = _resident_bytes()
    for _ in range(3):
        step()
    return max(0.0, (_peak_resident_bytes() - before) / 2**20)


def measure_in_child(name, shape):
    result = subprocess.run(
        [sys.executable, __file__, "--peak-of", name, "--shape",
         ",".join(map(str, shape))],
        capture_output=True, text=True, env=dict(os.environ))
    lines = result.stdout.strip().splitlines()
    return float(lines[-1]) if result.returncode == 0 and lines else None


def _bytes(mib):
    # A child that failed measured nothing: None, never None * 2**20.
    return None if mib is None else mib * 2**20


def _matmul_of(name):
    return "matmul" + name[len(name.split("@")[0]):]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--peak-of", help=argparse.SUPPRESS)
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    parser.add_argument("--ks", default="0,4096,16384,65536")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument(
        "--modes", default=None,
        help="comma list of compile modes timed side by side (default: "
             "the backend's default); see MODES")
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    if args.peak_of:  # the child of measure_in_child
        shape = [int(v) for v in args.shape.split(",")]
        print(f"{peak_growth_mib(args.peak_of, shape):.2f}")
        return None
    batch, dim, classes = (32, 16, 10) if args.quick else (256, 128, 100)
    ks = [0, 256] if args.quick else [int(k) for k in args.ks.split(",")]
    repeats = args.repeats or (3 if args.quick else 15)
    modes = (args.modes.split(",") if args.modes else
             MODES[keras.backend.backend()][:1])
    table = {}
    for k in ks:
        data = inputs(batch, dim, classes, k)
        compiled = {variant_name(name, mode): compile_grad(fn, data, mode)
                    for mode in modes for name, fn in VARIANTS.items()}
        seconds = interleaved({n: c[0] for n, c in compiled.items()},
                              repeats)
        if keras.backend.backend() != "jax" and not args.quick:
            compiled = {
                name: (step, _bytes(measure_in_child(
                    name, (batch, dim, classes, k))))
                if name in VARIANTS else (step, None)
                for name, (step, _) in compiled.items()
            }
        table[k] = {
            name: {
                # Significant digits: quick mode's times are microseconds,
                # and 3 decimals of a ms would make the ratio unverifiable.
                "ms": float(f"{seconds[name] * 1e3:.5g}"),
                # Against the matmul compiled the same way, same run.
                "ratio_to_matmul": round(
                    seconds[name] / seconds[_matmul_of(name)], 3),
                "memory_mib": (None if compiled[name][1] is None else
                               round(compiled[name][1] / 2**20, 2)),
            }
            for name in compiled
        }
    result = {**describe(), "benchmark": "loss_speed", "batch": batch,
              "dim": dim, "classes": classes, "repeats": repeats,
              "modes": modes,
              "by_k": table}
    emit(result, args.output)
    return result


if __name__ == "__main__":
    main()
