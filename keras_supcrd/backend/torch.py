"""The Distiller's train step on PyTorch."""

import keras
import torch


def train_step(model, data):
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    with torch.no_grad():
        x, features, logits = model.teacher_pass(x)
    model.zero_grad()
    loss, aux = model.distillation_loss(x, y, sample_weight, features, logits)
    model.optimizer.scale_loss(loss).backward()
    variables = model.trainable_variables[:]
    gradients = [v.value.grad for v in variables]
    with torch.no_grad():
        model.optimizer.apply(gradients, variables)
        # After backward(): an in-place write before it would break autograd.
        model.remember(features, logits, y)
        return model.update_logs(
            x, y, sample_weight, loss.detach(), aux, logits
        )
