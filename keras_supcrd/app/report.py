"""results.json, results.md and the PNG plots of a study."""

import json
import os

import numpy as np


# Paired columns: the student alone, the seed's SupCRD and, when the study
# has it, the strongest logit baseline of the first study.
BASELINES = ("ce", "supcrd", "dkd")


def _pm(summary, digits=4):
    if summary["std"] is None:
        return f"{summary['mean']:.{digits}f} (n=1)"
    return (f"{summary['mean']:.{digits}f} ± {summary['std']:.{digits}f} "
            f"(n={summary['n']})")


def _interval(d):
    if d["low"] is None:
        return f"{100 * d['mean']:+.2f} (n=1, no interval)"
    return (f"{100 * d['mean']:+.2f} [{100 * d['low']:+.2f}, "
            f"{100 * d['high']:+.2f}]")


def _params(params):
    return ", ".join(f"{k}={v}" if isinstance(v, bool) else f"{k}={v:g}"
                     for k, v in params.items()) or "-"


def _student(s):
    student = s.get("student", "mlp")
    if student == "cnn":
        return f"small CNN of width {s['student_width']}"
    if student == "mlp":
        return f"MLP with {s['student_hidden']} hidden units"
    return f"{student} (its saved weights at every seed)"


def _data(results):
    s, sizes = results["settings"], results["sizes"]
    if not s.get("data"):
        return (f"Fashion-MNIST: the teacher trains on {sizes['train']} "
                f"images, the students on a stratified "
                f"{sizes['student_train']} of them; {sizes['validation']} "
                f"validation (stratified) and {sizes['test']} test images.")
    teacher = results["teacher"]
    return (f"{s['data']}: the students train on {sizes['student_train']} "
            f"of {sizes['train']} examples; {sizes['validation']} validation "
            f"(stratified) and {sizes['test']} test examples "
            f"({results['test_from']}). Teacher: {teacher['path']} "
            f"({teacher['outputs']} out).")


def markdown(results):
    s = results["settings"]
    taken = results.get("params_from")
    chosen = ("chosen on the validation split" if s["tune"] else
              f"taken from {taken}" if taken else "literature defaults")
    if s["tune"] and taken:
        chosen += f" (those in {taken} taken as chosen there)"
    baselines = [b for b in BASELINES
                 if b in ("ce", "supcrd") or b in results["methods"]]
    lines = [
        f"# keras-supcrd compare ({results['backend']})",
        "",
        f"{_data(results)} Students: {_student(s)}, {s['epochs']} epochs "
        f"(Adam {s['learning_rate']:g}, cosine decay), batch "
        f"{s['batch_size']}, {s['seeds']} seed(s); memory {s['memory_size']},"
        f" tau {s['temperature']:g}. Settings {chosen}. Test accuracy is "
        "the last epoch's; differences are paired by seed, in points, with "
        "95% t intervals.",
        "",
        "| method | settings | test accuracy | "
        + " | ".join("vs student alone" if b == "ce" else f"vs {b}"
                     for b in baselines)
        + " | geometry (Spearman) | s/epoch |",
        "| --- " * (5 + len(baselines)) + "|",
    ]
    teacher = results["teacher"]
    trained = (f"CNN, {teacher['recipe']['epochs']} epochs"
               if "recipe" in teacher else os.path.basename(teacher["path"]))
    speed = (f"{teacher['seconds_per_epoch']:.1f}"
             if "seconds_per_epoch" in teacher else "")
    lines.append(
        f"| teacher | {trained} | {teacher['accuracy']:.4f} | "
        + "| " * len(baselines) + f"1 (reference) | {speed} |")
    paired = results.get("paired", {})
    for name, row in results["methods"].items():
        label = "student alone (ce)" if name == "ce" else name
        cells = [_interval(paired[b][name]) if name in paired.get(b, {})
                 else "" for b in baselines]
        lines.append(
            f"| {label} | {_params(row['params'])} | {_pm(row['accuracy'])} "
            f"| {' | '.join(cells)} | {_pm(row['geometry'], 3)} | "
            f"{row['seconds_per_epoch']['mean']:.1f} |")
    gate = paired.get("ce", {}).get("kd")
    if gate is not None:
        lines += ["", _gate(gate, s["seeds"])]
    return "\n".join(lines) + "\n"


# Fewer seeds give intervals too wide to judge by (two seeds: +-1.6
# points on Fashion-MNIST); the study's verdicts use 5.
GATE_SEEDS = 5


def _gate(d, seeds):
    """The sanity gate: KD must beat the student alone beyond its interval,
    or the protocol cannot tell distillation methods apart."""
    if seeds < GATE_SEEDS:
        return (f"Sanity gate (KD beats the student alone beyond its 95% "
                f"interval): not judged, {seeds} seed(s) are too few (it "
                f"takes {GATE_SEEDS}; KD - student alone here: "
                f"{_interval(d)} points). The full study's verdicts are in "
                "docs/studies.md and benchmarks/RESULTS.md.")
    verdict = ("passed" if d["low"] > 0 else
               "FAILED: the protocol cannot tell distillation methods apart")
    return (f"Sanity gate (KD beats the student alone beyond its 95% "
            f"interval): {verdict} ({_interval(d)} points).")


def _plot_accuracy(plt, results, path):
    names = list(results["methods"])
    rows = [results["methods"][n]["accuracy"] for n in names]
    means = [r["mean"] for r in rows]
    stds = [r["std"] or 0.0 for r in rows]
    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 2.5, 3.6))
    ax.bar(names, means, yerr=stds, capsize=4, color="tab:blue")
    for i, r in enumerate(rows):
        ax.plot([i] * r["n"], r["values"], "k.", ms=4)
    ax.axhline(results["teacher"]["accuracy"], color="tab:red", ls="--",
               label="teacher")
    low = min(min(means) - 3 * max(stds + [0.002]), min(means) - 0.01)
    ax.set_ylim(low, max(results["teacher"]["accuracy"], max(means)) + 0.005)
    ax.set_ylabel("test accuracy\n(bars: mean ± std, dots: seeds)")
    ax.legend(loc="center right")
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_differences(plt, results, path):
    diffs = results.get("paired", {}).get("ce", {})
    names = list(diffs)
    fig, ax = plt.subplots(figsize=(1.1 * max(len(names), 1) + 2.5, 3.4))
    for i, name in enumerate(names):
        d = diffs[name]
        mean = 100 * d["mean"]
        if d["low"] is None:
            ax.plot(i, mean, "o", color="tab:gray")
        else:
            ax.errorbar(i, mean, yerr=[[mean - 100 * d["low"]],
                                       [100 * d["high"] - mean]],
                        fmt="o", capsize=5, color="tab:blue")
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("test accuracy - student alone\n(points, 95% interval)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_similarity(plt, results, path):
    names = results["class_names"]
    panels = [("teacher", results["teacher"]["similarity"])] + [
        (f"{n} (rho={row['geometry']['mean']:.2f})", row["similarity"])
        for n, row in results["methods"].items()]
    matrices = [np.asarray(m) for _, m in panels]
    off = ~np.eye(len(names), dtype=bool)
    bound = max(np.abs(m[off]).max() for m in matrices)
    columns = min(4, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.3 * columns,
                                                      3.3 * rows),
                             squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for i, (ax, (title, _), matrix) in enumerate(zip(axes.flat, panels,
                                                     matrices)):
        shown = np.where(off, matrix, np.nan)  # the diagonal is always 1
        image = ax.imshow(shown, vmin=-bound, vmax=bound, cmap="RdBu_r")
        ax.set_title(title, fontsize=9)
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
        # Class names on the first column only: they would overlap.
        ax.set_yticks(range(len(names)),
                      names if i % columns == 0 else [], fontsize=6)
    fig.colorbar(image, ax=list(axes.flat), shrink=0.6,
                 label="cosine of centred class centroids (test set)")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot(results, output):
    """Writes accuracy.png, differences.png and similarity.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = [os.path.join(output, n) for n in
             ("accuracy.png", "differences.png", "similarity.png")]
    for draw, path in zip((_plot_accuracy, _plot_differences,
                           _plot_similarity), paths):
        draw(plt, results, path)
    return paths


def write(results, output):
    """Writes every output file; returns the markdown table."""
    os.makedirs(output, exist_ok=True)
    with open(os.path.join(output, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    table = markdown(results)
    with open(os.path.join(output, "results.md"), "w") as f:
        f.write(table)
    plot(results, output)
    return table
