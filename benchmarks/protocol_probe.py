"""Validation-split probes used to choose the study's protocol: the student
alone and KD at a few temperatures, two seeds each, for one student size,
data budget and epoch count (RESULTS.md, "Choosing the protocol").

Usage: KERAS_BACKEND=tensorflow python benchmarks/protocol_probe.py \
           --student-train-size 5000 --epochs 40 --student-hidden 256
"""

import argparse

from keras_supcrd.app import experiment
from keras_supcrd.app.cli import methods


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student-train-size", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--student-hidden", type=int, default=256)
    parser.add_argument("--kd-temperatures", default="2,4,8")
    parser.add_argument("--only-ce", action="store_true")
    args = parser.parse_args(argv)
    settings = experiment.Settings(
        epochs=args.epochs, student_train_size=args.student_train_size,
        student_hidden=args.student_hidden)
    data = experiment.prepare_data(settings)
    teacher, _ = experiment.load_teacher(settings, data)
    study = experiment.Study(
        settings, teacher,
        experiment._student_subset(data, args.student_train_size))
    table = methods(settings)
    runs = [("ce", {})]
    if not args.only_ce:
        runs += [("kd", {"weight": 1.0, "temperature": float(t)})
                 for t in args.kd_temperatures.split(",")]
    print("| method | settings | seed | validation | train (last epoch) |")
    print("| --- | --- | --- | --- | --- |")
    for name, params in runs:
        for seed in (0, 1):
            run = study.student(name, table[name], params, seed)
            val = study.accuracy(run["model"], data.validation)
            print(f"| {name} | {params} | {seed} | {val:.4f} | "
                  f"{run['final_logs']['accuracy']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
