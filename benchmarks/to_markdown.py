"""Turns the benchmark JSON files into the tables of RESULTS.md.

Usage: python benchmarks/to_markdown.py FILE.json [FILE.json ...]
"""

import json
import sys


def loss_speed(r):
    lines = [
        f"**{r['backend']}** (Keras {r['keras']}, {r['machine']}, commit "
        f"{r['commit']}, {r['date']}; B={r['batch']}, d={r['dim']}, "
        f"C={r['classes']}, median of {r['repeats']})",
        "",
        "| K | matmul ms (MiB) | crd | supcrd | lw | lw_decoupled | "
        "naive_lw |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for k, row in r["by_k"].items():
        memory = row["matmul"].get("memory_mib", row["matmul"].get(
            "temp_mib"))
        cells = [f"{row['matmul']['ms']:.1f}" + (
            f" ({memory:.0f})" if memory is not None else "")]
        for name in ("crd", "supcrd", "lw", "lw_decoupled", "naive_lw"):
            cell = f"{row[name]['ratio_to_matmul']:.2f}x"
            memory = row[name].get("memory_mib", row[name].get("temp_mib"))
            if memory is not None:
                cell += f" ({memory:.0f} MiB)"
            cells.append(cell)
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def step_overhead(r):
    ms, ratio = r["median_ms"], r["ratio_to_floor"]
    floor = ms["student_step"] + ms["teacher_step"]
    lines = [
        f"**{r['backend']}** (Keras {r['keras']}, {r['machine']}, commit "
        f"{r['commit']}, {r['date']}; batch {r['batch_size']}, median of "
        f"{r['repeats']})",
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


def main(paths):
    for path in paths:
        with open(path) as f:
            result = json.load(f)
        render = {"loss_speed": loss_speed,
                  "step_overhead": step_overhead}[result["benchmark"]]
        print(render(result))
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
