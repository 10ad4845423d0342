"""The Distiller's train step on PyTorch, with `torch.distributed` support.

When a process group is initialised (`torchrun`, `gloo` on CPU or `nccl`
on GPU), each rank trains on its shard of the global batch and the step is
the global batch's: the first step starts every rank from rank 0's
weights, every anchor sees the other ranks' teacher embeddings (gathered
with a differentiable all-gather, as extra reference rows), the gradients
are averaged over ranks, the bank stores the gathered global batch (the
same on every rank), a step is applied only when the loss is finite on
every rank, and the logged losses are the global batch's. Metrics other
than the losses are each rank's own.
"""

import weakref

import keras
import torch
import torch.distributed as dist

from keras_supcrd import _step

# The models whose ranks started from rank 0's weights (once per model).
_SYNCED = weakref.WeakSet()


def _world():
    """The process group's size; 1 when there is none."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def gather(x):
    """Concatenates `x` over ranks along the batch axis (no gradient)."""
    if _world() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(_world())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, 0)


def other_replicas(embeddings, labels):
    """The other ranks' rows as extra negatives: `(rows, labels)` or None.

    The global batch is gathered in rank order; this rank's own slice keeps
    its rows (so shapes match on every rank) but gets the empty label -1.
    The gather is differentiable: its backward sums every rank's gradient
    into the rows' owner.
    """
    if _world() == 1:
        return None
    from torch.distributed.nn.functional import all_gather

    rows = torch.cat(all_gather(embeddings.contiguous()), 0)
    gathered = gather(labels.to(torch.int32))
    owner = torch.arange(gathered.shape[0], device=gathered.device)
    own = owner // labels.shape[0] == dist.get_rank()
    return rows, torch.where(own, -1, gathered)


def _mean_over_ranks(x):
    x = x.detach().clone()
    dist.all_reduce(x)
    return x / _world()


def _start_from_rank_zero(model):
    # Once per model: every rank must start from the same weights and bank.
    if model in _SYNCED:
        return
    with torch.no_grad():
        for variable in model.variables:
            dist.broadcast(variable.value.data, src=0)
    _SYNCED.add(model)


def _global_losses(loss, outputs):
    # Equal shards: the global batch's mean is the mean of the ranks' means.
    return _mean_over_ranks(loss), outputs._replace(
        student_loss=_mean_over_ranks(outputs.student_loss),
        terms=[_mean_over_ranks(term) for term in outputs.terms])


def _finite_everywhere(loss):
    finite = torch.isfinite(loss.detach()).to(torch.int32)
    if _world() > 1:
        dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    return bool(finite)


def _as_tensors(data):
    # `train_on_batch` hands the batch over as given (numpy arrays, lists);
    # `fit` converts it first. The collectives below need tensors.
    return keras.tree.map_structure(
        lambda a: a if a is None or torch.is_tensor(a)
        else keras.ops.convert_to_tensor(a), data)


def train_step(model, parts, data):
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(
        _as_tensors(data))
    ranks = _world()
    if ranks > 1:
        _start_from_rank_zero(model)
    with torch.no_grad():
        teacher = _step.teacher_pass(model, parts, x)
        y, invalid = _step.screen_everywhere(y, teacher.logits.shape[-1],
                                             gather)
    # The student's forward pass moves its BatchNorm statistics in place.
    saved = [v.value.detach().clone() for v in _step.student_state(parts)]
    model.zero_grad()
    loss, outputs = _step.loss(parts, teacher, y, sample_weight, invalid)
    finite = _finite_everywhere(loss)
    if finite:
        model.optimizer.scale_loss(loss).backward()
        variables = model.trainable_variables[:]
        gradients = [v.value.grad for v in variables]
    with torch.no_grad():
        if finite:
            if ranks > 1:  # the global batch's mean gradient
                gradients = [None if g is None else _mean_over_ranks(g)
                             for g in gradients]
            model.optimizer.apply(gradients, variables)
            # After backward(): an in-place write before it breaks autograd.
            _step.remember(parts, gather(teacher.features),
                           gather(teacher.logits), gather(y))
        else:  # skip the whole update; the logs name the bad term
            for variable, value in zip(_step.student_state(parts), saved):
                variable.assign(value)
        loss = loss.detach()
        if ranks > 1:
            loss, outputs = _global_losses(loss, outputs)
        return _step.logs(parts, teacher, y, sample_weight, loss, outputs)
