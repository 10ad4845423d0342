"""Turns the benchmark JSON files into the tables of RESULTS.md.

Usage: python benchmarks/to_markdown.py FILE.json [FILE.json ...]
"""

import json
import sys


LOSSES = ("crd", "supcrd", "supcrd_autodiff", "lw", "lw_autodiff",
          "lw_decoupled", "naive_lw")


def loss_speed(r):
    modes = r.get("modes", [None])
    first = next(iter(r["by_k"].values()))
    names = [n for n in LOSSES if n in first]
    lines = [
        f"**{r['backend']}** (Keras {r['keras']}, {r['machine']}, commit "
        f"{r['commit']}, {r['date']}; B={r['batch']}, d={r['dim']}, "
        f"C={r['classes']}, median of {r['repeats']}; each ratio against "
        "the matmul compiled the same way)",
        "",
        "| mode | K | matmul ms (MiB) | " + " | ".join(names) + " |",
        "| --- " * (3 + len(names)) + "|",
    ]
    for i, mode in enumerate(modes):
        suffix = "" if i == 0 else f"@{mode}"
        for k, row in r["by_k"].items():
            lines.append(f"| {mode or ''} | {k} | " + " | ".join(
                _cell(row[n + suffix], n == "matmul")
                for n in ("matmul", *names)) + " |")
    return "\n".join(lines)


def _cell(entry, floor):
    memory = entry.get("memory_mib", entry.get("temp_mib"))
    cell = f"{entry['ms']:.1f}" if floor else (
        f"{entry['ratio_to_matmul']:.2f}x")
    if memory is not None:
        cell += f" ({memory:.0f})" if floor else f" ({memory:.0f} MiB)"
    return cell


def step_overhead(r):
    ms, ratio = r["median_ms"], r["ratio_to_floor"]
    floor = ms["student_step"] + ms["teacher_step"]
    lines = [
        f"**{r['backend']}** (Keras {r['keras']}, {r['machine']}, commit "
        f"{r['commit']}, {r['date']}; batch {r['batch_size']}, median of "
        f"{r['repeats']}, jit_compile={r.get('jit_compile', 'auto')})",
        "",
        "| variant | ms/step | ratio to student step + teacher step |",
        "| --- | --- | --- |",
        f"| student step + teacher step (floor) | {floor:.1f} | 1.00 |",
    ]
    for name, value in ratio.items():
        lines.append(f"| {name} | {ms[name]:.1f} | {value:.2f}x |")
    cached = r.get("ratio_to_student_step", {})
    if cached:
        lines += ["", "| cached teacher outputs | ms/step | ratio to student "
                  "step |", "| --- | --- | --- |",
                  f"| student step (floor) | {ms['student_step']:.1f} | "
                  "1.00 |"]
        for name, value in cached.items():
            lines.append(f"| {name} | {ms[name]:.1f} | {value:.2f}x |")
    return "\n".join(lines)


def loss_passes(r):
    m = r["batch"] + r["k"]
    lines = [
        f"**{r['backend']}** (Keras {r['keras']}, {r['machine']}, commit "
        f"{r['commit']}, {r['date']}; B={r['batch']}, K={r['k']}: (M, B) = "
        f"({m}, {r['batch']}), median of {r['repeats']})",
        "",
        "| mode | variant | ms | (M, B) kernels | (M, B) arrays read + "
        "written | extra ms over matmul, in `2 * L` passes |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for mode, row in r["by_mode"].items():
        unit = row["pass_ms"]
        for name, kernels in row["kernels"].items():
            ms = row["ms"][name]
            extra = ms - row["ms"]["matmul"]
            lines.append(
                f"| {mode} | {name} | {ms:.1f} | {_kernels(kernels)} | "
                f"{_traffic(kernels)} | {extra / unit:.1f} |")
        lines.append(f"| {mode} | one pass `2 * L` | {unit:.2f} | 1 | "
                     "1 + 1 | |")
        if "exp_pass_ms" in row:
            lines.append(f"| {mode} | one pass `exp(L)` | "
                         f"{row['exp_pass_ms']:.2f} | 1 | 1 + 1 | |")
    return "\n".join(lines)


def _kernels(kernels):
    if kernels and "calls" in kernels[0]:  # torch: ATen ops, self time
        calls = sum(k["calls"] for k in kernels)
        top = ", ".join(f"{k['kernel'].replace('aten::', '')} "
                        f"{k['self_ms']:.1f}" for k in kernels[:3])
        return f"{calls:.0f} op calls (top ms: {top})"
    return str(len(kernels))


def _traffic(kernels):
    if kernels and "calls" in kernels[0]:
        return "n/a"
    if kernels and kernels[0]["reads"] is None:  # tf.function graph ops
        return f"{len(kernels)} written"
    return (f"{sum(k['reads'] for k in kernels):.1f} + "
            f"{sum(k['writes'] for k in kernels):.1f}")


def main(paths):
    for path in paths:
        with open(path) as f:
            result = json.load(f)
        render = {"loss_speed": loss_speed, "loss_passes": loss_passes,
                  "step_overhead": step_overhead}[result["benchmark"]]
        print(render(result))
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
