"""`keras-supcrd distill`: a user's teacher distilled into a student that
is saved on its own; killed and started again, it resumes."""

import csv
import dataclasses
import json
import os

import keras
import numpy as np

from keras_supcrd.app import batches
from keras_supcrd.app import cost
from keras_supcrd.app import export
from keras_supcrd.app import training
from keras_supcrd.app import usermodels
from keras_supcrd.app import usersource
from keras_supcrd.app.plan import STUDENT_SIZES
from keras_supcrd.app.plan import Augmentation
from keras_supcrd.app.userdata import InputError

RUN_FILE = "run.json"
# What a run writes; a folder holding anything else is not ours to write in.
OWN_FILES = (RUN_FILE, "student.keras", "history.csv", "history.json",
             "report.md", "report.json", "curves.png", "backup",
             *(path for path, _ in export.FORMATS.values()))


def claim(output, run):
    """"new", "resume" or "done" for the run described by `run` in the
    folder `output`; refuses a folder holding another run's files."""
    if os.path.exists(output) and not os.path.isdir(output):
        raise InputError(f"--output {output} is a file, not a folder.")
    if not os.path.isdir(output) or not os.listdir(output):
        return "new"
    path = os.path.join(output, RUN_FILE)
    if not os.path.exists(path):
        raise InputError(
            f"--output {output} holds files that are not a keras-supcrd "
            f"distill run ({', '.join(sorted(os.listdir(output))[:3])}, "
            "...); give a new or empty folder.")
    with open(path) as f:
        written = json.load(f)
    if written["run"] != run:
        changed = sorted(k for k in set(run) | set(written["run"])
                         if run.get(k) != written["run"].get(k))
        raise InputError(
            f"--output {output} holds another run (it differs in "
            f"{', '.join(changed)}); give a new folder, or the same "
            "arguments to resume it.")
    # A write killed midway leaves its `.partial` file: ours too.
    strangers = {n for n in os.listdir(output)
                 if n not in OWN_FILES and ".partial" not in n}
    if strangers:
        raise InputError(f"--output {output} holds files that are not this "
                         f"run's: {', '.join(sorted(strangers))}.")
    return "done" if written.get("finished") else "resume"


def _run_description(settings, name, params, seed):
    fields = dataclasses.asdict(settings)
    for key in ("output", "cache_dir", "methods", "seeds", "tune",
                "workers", "devices", "export"):
        fields.pop(key)
    digests = {f"{key}_digest": usersource.file_digest(fields[key])
               for key in ("teacher", "student")
               if os.path.isfile(str(fields[key]))}
    description = {**fields, **digests, "method": name, "params": params,
                   "seed": seed, "backend": keras.backend.backend()}
    # As run.json holds it (tuples become lists), to compare with it.
    return json.loads(json.dumps(description))


def _remove(path):
    if os.path.exists(path):
        os.remove(path)


def _history(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return {key: [float(row[key]) for row in rows] for key in rows[0]}


def _plot(history, path):
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    epochs = np.asarray(history["epoch"]) + 1
    for ax, key in zip(axes, ("accuracy", "loss")):
        for prefix, label in (("", "training"), ("val_", "validation")):
            if prefix + key in history:
                ax.plot(epochs, history[prefix + key], label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.legend()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return True


def _student_label(settings):
    student = settings.student
    if student not in STUDENT_SIZES:
        return student
    return f"{student}:{getattr(settings, STUDENT_SIZES[student])}"


def _megabytes(size):
    return f"{size / 2**20:.2f} MB"


def _report(run, report, plot):
    """report.md: the run, what each model costs and scores, the exports."""
    teacher, student = report["teacher"], report["student"]
    batch = max(teacher["latency_ms_per_image"], key=int)
    lines = [
        "# keras-supcrd distill", "",
        f"Teacher {report['teacher_path']} ({report['teacher_outputs']} "
        f"out), data {run['data']}, student {student['label']}, method "
        f"{run['method']} "
        f"({', '.join(f'{k}={v}' for k, v in run['params'].items()) or '-'}"
        f"), {run['epochs']} epochs, seed {run['seed']}, backend "
        f"{run['backend']}.", "",
        f"| model | parameters | file | latency, batch 1 (ms/image) | "
        f"latency, batch {batch} (ms/image) | validation accuracy |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in (("teacher", teacher),
                      ("distilled student (last epoch)", student)):
        lines.append(
            f"| {name} | {row['parameters']:,} | "
            f"{_megabytes(row['file_bytes'])} | "
            f"{row['latency_ms_per_image']['1']:.3f} | "
            f"{row['latency_ms_per_image'][batch]:.3f} | "
            f"{row['validation_accuracy']:.4f} |")
    lines += [
        "", f"The student has {student['parameters'] / teacher['parameters']:.1%}"
        f" of the teacher's parameters and takes "
        f"{student['latency_ms_per_image']['1'] / teacher['latency_ms_per_image']['1']:.2f}x"
        f" its time per image at batch 1 (median of {cost.REPEATS} runs, "
        "this machine, Keras `predict_on_batch`).", "",
        f"Validation: a stratified {run['validation_split']:g} of the data, "
        f"{report['epochs_logged']} epochs logged in history.json.",
    ]
    if report["exports"]:
        lines += ["", "| export | path | max abs difference from "
                  "student.keras |", "| --- | --- | --- |"]
        lines += [f"| {name} | {row['path']} | {row['max_abs_diff']:.2g} |"
                  for name, row in report["exports"].items()]
    if plot:
        lines += ["", "![training curves](curves.png)"]
    return "\n".join(lines) + "\n"


def run(settings, name, method, params, seed, augmentation=Augmentation()):
    """Distils `settings.teacher` into `settings.student` on
    `settings.data` with `method` at `params`; writes the output folder
    and exports the student in `settings.export`'s formats.

    Returns:
        The paths written, by name.
    """
    out = settings.output
    description = _run_description(settings, name, params, seed)
    state = claim(out, description)
    paths = {n: os.path.join(out, n) for n in
             ("student.keras", "history.json", "report.md", "report.json",
              "curves.png")}
    export.check_formats(settings.export)
    if state == "done":
        return _export_finished(settings, description, paths)
    devices = training.device_count(settings)
    with training.on_devices(devices):
        trained = _train(settings, name, method, params, seed, augmentation,
                         description, state, devices)
    return _finish(*trained, description, paths)


def _train(settings, name, method, params, seed, augmentation, description,
           state, devices):
    """Checks everything, then trains; returns what `_finish` reports."""
    out = settings.output
    teacher, info, data = usersource.prepare(settings, with_test=False,
                                             devices=devices)
    settings = training.auto_student(settings, teacher)
    keras.utils.set_random_seed(seed)
    student = training.build_student(settings, data.train.shape,
                                     len(data.class_names))
    usermodels.check_pair(teacher, student, len(data.class_names))
    training.check_size(teacher, student)
    training.check_augmentation(augmentation, data.train.shape)
    steps = settings.epochs * -(-len(data.train) // settings.batch_size)
    try:
        model, callbacks = training.build_model(
            settings, teacher, student, method, params, steps,
            data.train.shape, augmentation)
    except ValueError as error:  # a setting or a model the losses refuse
        raise InputError(f"--method {name} with {params} on these models: "
                         f"{error}") from None
    # Every check has passed: only now is anything written.
    os.makedirs(out, exist_ok=True)
    if state == "new":
        training.write_json(os.path.join(out, RUN_FILE),
                            {"run": description})
    if not os.path.isdir(os.path.join(out, "backup")):
        # No epoch to resume from (none finished, or the last run ended
        # before its files were written): the history starts again too.
        _remove(os.path.join(out, "history.csv"))
    train = batches.Batches(data.train, settings.batch_size, seed,
                            settings.workers, devices)
    validation = batches.Batches(data.validation, settings.batch_size,
                                 workers=settings.workers, multiple=devices)
    callbacks += [
        batches.EpochOrder(train),
        keras.callbacks.BackupAndRestore(os.path.join(out, "backup")),
        keras.callbacks.CSVLogger(os.path.join(out, "history.csv"),
                                  append=True),
    ]
    print(f"Distilling into the student ({_student_label(settings)}, "
          f"{student.count_params():,} parameters; the teacher "
          f"{teacher.count_params():,}) with {name}, {settings.epochs} "
          "epochs, the teacher run on each batch; stopped, the same command "
          "resumes:", flush=True)
    if devices > 1:
        print(f"Each batch of {settings.batch_size} is split over {devices} "
              f"devices ({keras.backend.backend()} data parallel).",
              flush=True)
    batches.fit(model, train, epochs=settings.epochs, shuffle=False,
                validation_data=validation, callbacks=callbacks, verbose=1)
    return settings, info, teacher, student, data


def _export_finished(settings, description, paths):
    """A finished run: exports the formats it does not hold yet (the run
    itself is the same whatever `--export` says), and reports them."""
    with open(paths["report.json"]) as f:
        report = json.load(f)
    report.pop("run")
    missing = [f for f in settings.export if f not in report["exports"]]
    if not missing:
        print(f"{settings.output} holds this run, finished; nothing to do.")
    else:
        print(f"{settings.output} holds this run, finished; exporting the "
              f"student ({', '.join(missing)}):", flush=True)
        _, _, data = usersource.prepare(settings, with_test=False, devices=1)
        student = keras.saving.load_model(paths["student.keras"])
        report["exports"].update(_export(settings, student, data, missing,
                                         paths))
        _write_report(paths, description, report)
    paths.update({name: row["path"]
                  for name, row in report["exports"].items()})
    return {n: p for n, p in paths.items() if os.path.exists(p)}


def _export(settings, student, data, formats, paths):
    """Each format's row: the student exported, loaded back and compared
    with student.keras on up to 64 validation examples."""
    print(f"Exporting the student ({', '.join(formats)}) and checking each "
          "export against it:", flush=True)
    x = data.validation.read(np.arange(min(64, len(data.validation))))
    return export.export(os.path.abspath(paths["student.keras"]), x,
                         student.predict(x, verbose=0),
                         os.path.abspath(settings.output), formats)


def _write_report(paths, description, report):
    training.write_json(paths["report.json"], {"run": description, **report})
    plot = os.path.exists(paths["curves.png"])
    with open(paths["report.md"], "w") as f:
        f.write(_report(description, report, plot))


def _finish(settings, info, teacher, student, data, description, paths):
    """Saves the student, measures both models, exports, reports."""
    out = settings.output
    student.save(paths["student.keras"] + ".partial.keras")
    os.replace(paths["student.keras"] + ".partial.keras",
               paths["student.keras"])
    history = _history(os.path.join(out, "history.csv"))
    training.write_json(paths["history.json"], history)
    plot = _plot(history, paths["curves.png"])
    validation = data.validation
    example = validation.read(np.arange(1))[0]
    report = {"teacher_path": info["path"], "teacher_outputs": info["outputs"],
              "epochs_logged": len(history["epoch"])}
    for name, model, path in (("teacher", teacher, settings.teacher),
                              ("student", student, paths["student.keras"])):
        report[name] = {
            **cost.cost(model, path, example),
            "validation_accuracy": batches.accuracy(
                model, validation, settings.batch_size, settings.workers)}
    report["student"]["label"] = _student_label(settings)
    report["exports"] = {}
    if settings.export:
        report["exports"] = _export(settings, student, data, settings.export,
                                    paths)
    _write_report(paths, description, report)
    training.write_json(os.path.join(out, RUN_FILE),
                        {"run": description, "finished": True})
    paths.update({name: row["path"]
                  for name, row in report["exports"].items()})
    if not plot:
        del paths["curves.png"]
    return paths
