"""results.json, results.md and the PNG plots of a comparison."""

import json
import os


def _pm(summary, digits=4):
    return f"{summary['mean']:.{digits}f} ± {summary['std']:.{digits}f}"


def markdown(results):
    s = results["settings"]
    lines = [
        f"# keras-supcrd compare ({results['backend']})",
        "",
        f"Fashion-MNIST, {results['train_size']} training images "
        f"(fraction {s['data_fraction']}), {results['test_size']} test "
        f"images; {s['epochs']} student epochs, {s['seeds']} seed(s), batch "
        f"{s['batch_size']}, memory {s['memory_size']}, alpha {s['alpha']}, "
        f"beta {s['beta']}, tau {s['temperature']}, T {s['kd_temperature']}.",
        "",
        "| method | test accuracy (mean ± std) | semantic geometry "
        "(Spearman) | s/epoch |",
        "| --- | --- | --- | --- |",
    ]
    teacher = results["teacher"]
    seconds = teacher["seconds_per_epoch"]
    lines.append(
        f"| teacher | {teacher['accuracy']:.4f} | 1 (reference) | "
        f"{'cached' if seconds is None else f'{seconds:.1f}'} |")
    for name, row in results["methods"].items():
        label = "student alone (ce)" if name == "ce" else name
        lines.append(
            f"| {label} | {_pm(row['accuracy'])} | {_pm(row['geometry'], 3)}"
            f" | {row['seconds_per_epoch']['mean']:.1f} |")
    return "\n".join(lines) + "\n"


def plot(results, output):
    """Writes accuracy.png and similarity.png; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(results["methods"])
    means = [results["methods"][n]["accuracy"]["mean"] for n in names]
    stds = [results["methods"][n]["accuracy"]["std"] for n in names]
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 3, 4))
    ax.bar(names, means, yerr=stds, capsize=4, color="tab:blue")
    ax.axhline(results["teacher"]["accuracy"], color="tab:red", ls="--",
               label="teacher")
    low = min(means + [results["teacher"]["accuracy"]]) - 0.05
    ax.set_ylim(max(0.0, low), 1.0)
    ax.set_ylabel("test accuracy (mean ± std over seeds)")
    ax.set_title("Fashion-MNIST: student accuracy per method")
    ax.legend()
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    fig.tight_layout()
    accuracy_path = os.path.join(output, "accuracy.png")
    fig.savefig(accuracy_path, dpi=110)
    plt.close(fig)

    panels = [("teacher", results["teacher"]["similarity"], None)] + [
        (n, results["methods"][n]["similarity"],
         results["methods"][n]["geometry"]["mean"]) for n in names]
    fig, axes = plt.subplots(1, len(panels),
                             figsize=(3.0 * len(panels), 3.4))
    axes = np.atleast_1d(axes)
    for ax, (title, matrix, score) in zip(axes, panels):
        image = ax.imshow(np.asarray(matrix), vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_title(title if score is None else f"{title}\nrho={score:.2f}",
                     fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=list(axes), shrink=0.8,
                 label="class-centroid cosine similarity")
    similarity_path = os.path.join(output, "similarity.png")
    fig.savefig(similarity_path, dpi=110)
    plt.close(fig)
    return [accuracy_path, similarity_path]


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
