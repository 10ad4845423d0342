import pytest


@pytest.fixture(params=["eager", "compiled"])
def compiled(request):
    """False, then True: a test taking it runs once eagerly and once under
    the backend's compiler (`jax.jit`, `tf.function`, `torch.compile`;
    `grad.compiled`), where value checks take their in-graph form."""
    return request.param == "compiled"
