"""The Distiller's train step on TensorFlow."""

import keras
import tensorflow as tf


def train_step(model, data):
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    # Outside the tape: the frozen teacher is never recorded.
    x, features, logits = model.teacher_pass(x)
    with tf.GradientTape() as tape:
        loss, aux = model.distillation_loss(
            x, y, sample_weight, features, logits
        )
        scaled = model.optimizer.scale_loss(loss)
    variables = model.trainable_variables
    gradients = tape.gradient(scaled, variables)
    model.optimizer.apply_gradients(zip(gradients, variables))
    model.remember(features, y)
    return model.update_logs(x, y, sample_weight, loss, aux, logits)
