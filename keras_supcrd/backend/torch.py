"""The Distiller's train step on PyTorch."""

import keras
import torch


def train_step(model, data):
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    with torch.no_grad():
        x, features, logits = model.teacher_pass(x)
        y, invalid = model.screen_labels(y, logits)
    # The student's forward pass moves its BatchNorm statistics in place.
    saved = [v.value.detach().clone() for v in model.student_state()]
    model.zero_grad()
    loss, aux = model.distillation_loss(x, y, sample_weight, features, logits,
                                        invalid)
    with torch.no_grad():
        finite = bool(torch.isfinite(loss))
    if finite:
        model.optimizer.scale_loss(loss).backward()
        variables = model.trainable_variables[:]
        gradients = [v.value.grad for v in variables]
    with torch.no_grad():
        if finite:
            model.optimizer.apply(gradients, variables)
            # After backward(): an in-place write before it breaks autograd.
            model.remember(features, logits, y)
        else:  # skip the whole update; the logs name the bad term
            for variable, value in zip(model.student_state(), saved):
                variable.assign(value)
        return model.update_logs(
            x, y, sample_weight, loss.detach(), aux, logits
        )
