"""The embedding head of CRD: a linear map to `embedding_dim`, then L2."""

import keras
from keras import ops

from keras_supcrd.losses import l2_normalize


@keras.saving.register_keras_serializable(package="keras_supcrd")
class ProjectionHead(keras.layers.Layer):
    """Projects features to unit-norm embeddings: `l2_normalize(W x + b)`.

    The head computes in float32 whatever the global dtype policy, because
    its output feeds the contrastive losses, whose maths is float32.

    Args:
        embedding_dim: size of the embedding (>= 1).
        **kwargs: standard `keras.layers.Layer` arguments.

    Example:

    ```python
    import numpy as np
    from keras_supcrd.layers import ProjectionHead
    head = ProjectionHead(embedding_dim=4)
    embeddings = head(np.ones((2, 8), "float32"))  # (2, 4), unit rows
    ```

    Reference:
        Tian et al., "Contrastive Representation Distillation", ICLR 2020
        (the `Embed` heads: Linear to 128, then L2 normalisation).
    """

    def __init__(self, embedding_dim=128, **kwargs):
        if not isinstance(embedding_dim, int) or embedding_dim < 1:
            raise ValueError(
                "`embedding_dim` must be an integer >= 1. Received: "
                f"embedding_dim={embedding_dim}"
            )
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim
        self.dense = keras.layers.Dense(
            embedding_dim, dtype=self.dtype_policy, name="dense"
        )

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, features):
        return l2_normalize(self.dense(ops.cast(features, self.compute_dtype)))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.embedding_dim)

    def get_config(self):
        return {**super().get_config(), "embedding_dim": self.embedding_dim}
