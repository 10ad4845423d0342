"""Where a loss kernel's time goes: its passes over the (M, B) logits.

The loss kernels cost more than their similarity matmul because each
elementwise pass over the (M, B) logits reads or writes a 16 MiB array
(B=256, M=B+K, K=16384) that does not stay in a 2-core CPU's cache. This
script counts those passes in what each backend actually runs, for the
matmul floor and the losses of `loss_speed.py`:

- JAX `jit` and TensorFlow XLA: the kernels of XLA's optimised HLO (after
  fusion) that read or write an (M, B) array, and how many (M, B) arrays
  they read and write, in units of one float32 (M, B) array (a bool mask
  counts 1/4);
- TensorFlow `tf.function`: the graph's ops with an (M, B) output (each
  runs as its own kernel without XLA);
- PyTorch eager: the profiler's ATen ops with an (M, B) input or output,
  with their self CPU time per step.

`pass_ms` times one elementwise read-and-write pass (`2 * L` on an (M, B)
array) in the same mode, the unit in which the loss's extra time over the
matmul can be read; `exp_pass_ms` the same pass with an `exp` per entry,
to tell memory traffic from arithmetic.

Run: KERAS_BACKEND=jax python benchmarks/loss_passes.py [--quick]
"""

import argparse
import collections
import os
import re
import sys

import keras
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import describe, emit, interleaved  # noqa: E402
from loss_speed import (MODES, VARIANTS, compile_grad, inputs,  # noqa: E402
                        jax_step, tf_step)

NAMES = ("matmul", "crd", "supcrd", "supcrd_autodiff", "lw", "lw_autodiff")
_BYTES = {"f32": 4, "s32": 4, "pred": 1, "u8": 1, "f64": 8, "s64": 8}
_INSTRUCTION = re.compile(
    r"^\s*(?:ROOT\s+)?%?([\w.\-]+) = (.+?) ([a-z][\w\-]*)\((.*)$")


def hlo_passes(text, m, b):
    """(M, B) traffic of the top-level kernels of an optimised HLO module."""
    entry = text[text.index("\nENTRY"):]
    entry = entry[:entry.index("\n}")]
    shapes, kernels = {}, []
    big = re.compile(rf"(\w+)\[(?:{m},{b}|{b},{m})\]")
    for line in entry.splitlines()[1:]:
        match = _INSTRUCTION.match(line)
        if not match:
            continue
        name, result, op, rest = match.groups()
        shapes[name] = result
        if op in ("parameter", "constant", "get-tuple-element", "tuple",
                  "bitcast"):
            continue
        operands = re.findall(r"%([\w.\-]+)", rest.split("),")[0])
        reads = sum(_units(big, shapes.get(o, "")) for o in operands)
        writes = _units(big, result)
        if reads or writes:
            kernels.append({"kernel": f"{op} {name}", "reads": reads,
                            "writes": writes})
    return kernels


def _units(big, shape_text):
    return sum(_BYTES.get(dtype, 4) / 4 for dtype in big.findall(shape_text))


def xla_text(fn, data, backend):
    if backend == "jax":
        return jax_step(fn).lower(*data).compile().as_text()
    import tensorflow as tf

    step = tf.function(tf_step(fn), jit_compile=True)
    return step.experimental_get_compiler_ir(*data)(stage="optimized_hlo")


def tf_graph_passes(fn, data, m, b):
    import tensorflow as tf

    graph = tf.function(tf_step(fn)).get_concrete_function(*data).graph
    kernels = []
    for op in graph.get_operations():
        for out in op.outputs:
            if out.shape.as_list() in ([m, b], [b, m]):
                kernels.append({"kernel": op.type, "reads": None,
                                "writes": 1})
    return kernels


def torch_passes(fn, data, m, b, steps=5):
    from torch.profiler import ProfilerActivity, profile

    run, _ = compile_grad(fn, data, "eager")
    run()
    with profile(activities=[ProfilerActivity.CPU],
                 record_shapes=True) as prof:
        for _ in range(steps):
            run()
    totals = collections.defaultdict(lambda: [0, 0.0])
    for event in prof.key_averages(group_by_input_shape=True):
        if any(list(s) in ([m, b], [b, m]) for s in event.input_shapes):
            totals[event.key][0] += event.count / steps
            totals[event.key][1] += event.self_cpu_time_total / steps / 1e3
    return [{"kernel": k, "calls": round(c, 1), "self_ms": round(ms, 2)}
            for k, (c, ms) in sorted(totals.items(), key=lambda i: -i[1][1])]


def pass_time(m, b, mode, repeats, op=lambda x: 2.0 * x):
    """Median seconds of `op(L)` on an (M, B) float32 array."""
    backend = keras.backend.backend()
    logits = keras.ops.convert_to_tensor(
        np.ones((m, b), "float32"))
    if backend == "jax":
        import jax

        step = jax.jit(op)
        fn = lambda: jax.block_until_ready(step(logits))  # noqa: E731
    elif backend == "tensorflow":
        import tensorflow as tf

        step = tf.function(op, jit_compile=mode == "xla")
        fn = lambda: step(logits)  # noqa: E731 (CPU: returns when done)
    else:
        fn = lambda: op(logits)  # noqa: E731
    return interleaved({"pass": fn}, repeats)["pass"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--k", type=int, default=16384)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    batch, dim, classes, k = ((32, 16, 10, 256) if args.quick else
                              (256, 128, 100, args.k))
    data = inputs(batch, dim, classes, k)
    m = batch + k
    backend = keras.backend.backend()
    # torch.compile's kernels are not ATen ops the profiler can count.
    modes = [m for m in MODES[backend] if m != "compile"]
    repeats = 3 if args.quick else 15
    by_mode = {}
    for mode in modes:
        kernels = {}
        for name in NAMES:
            fn = VARIANTS[name]
            if mode in ("jit", "xla"):
                kernels[name] = hlo_passes(xla_text(fn, data, backend), m,
                                           batch)
            elif mode == "function":
                kernels[name] = tf_graph_passes(fn, data, m, batch)
            else:
                kernels[name] = torch_passes(fn, data, m, batch)
        steps = {n: compile_grad(VARIANTS[n], data, mode)[0] for n in NAMES}
        seconds = interleaved(steps, repeats)
        by_mode[mode] = {
            "pass_ms": round(pass_time(m, batch, mode, repeats) * 1e3, 3),
            # The same traffic with an exp per entry: the arithmetic's part.
            "exp_pass_ms": round(pass_time(
                m, batch, mode, repeats, keras.ops.exp) * 1e3, 3),
            "ms": {n: round(v * 1e3, 3) for n, v in seconds.items()},
            "kernels": kernels,
        }
    result = {**describe(), "benchmark": "loss_passes", "batch": batch,
              "dim": dim, "classes": classes, "k": k, "repeats": repeats,
              "by_mode": by_mode}
    emit(result, args.output)
    return result


if __name__ == "__main__":
    main()
