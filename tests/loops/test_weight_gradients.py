"""Weight gradients formed once per chunk (``lowlevel.loops.weight_gradients``) are autodiff's.

``chunked_unroll(..., weight_gradients_per_chunk=True)`` must give the outputs, states
and every gradient (weights, inputs, initial states) that the per-step form gives, for
every cell (the GRU's ``reset_after=False`` multiplies a *slice* of its recurrent
kernel, so its gradient passes back through the slice), with masks, ``go_backwards``,
dropout, stacked cells and a bfloat16 compute dtype; and its backward pass must hold
one weight-gradient matmul per weight and chunk.
"""

import numpy as np
import pytest
import tensorflow as tf

import lowlevel
import lowlevel.layers.rnn
from lowlevel.tolerances import assert_close
from lowlevel.loops.unrolled import PER_CHUNK_MAX_BATCH, PER_CHUNK_MIN_UNITS, chunked_unroll
from lowlevel.loops.weight_gradients import defer_weight_gradients
from traced_graphs import count, nodes

CELLS = [("SimpleRNNCell", {}), ("LSTMCell", {}), ("GRUCell", {}),
         ("GRUCell", {"reset_after": False})]
CHUNK = 4


def _stack(name, extra, dtype="float64", units=6, input_dim=5, **options):
    cell = getattr(lowlevel, name)
    return lowlevel.StackedCells([cell(units, input_dim=input_dim, dtype=dtype, **extra, **options),
                                  cell(units, input_dim=units, dtype=dtype, **extra, **options)])


def _loss_and_gradients(stack, x, mask, go_backwards, per_chunk, compute_dtype=None,
                        dropout_masks=None, extra_variables=()):
    """A loss touching the sequence and the final states; its gradients with respect to
    every weight (and ``extra_variables``), the input and the initial states."""
    batch = x.shape[0]
    initial = stack.get_initial_state(batch)
    compute_dtype = compute_dtype or stack.dtype

    def step(x_t, states, weights, matmul):
        cast = tf.nest.map_structure(lambda w: None if w is None else tf.cast(w, compute_dtype),
                                     weights)
        return stack.step(x_t, states, masks=dropout_masks, weights=cast, matmul=matmul)

    @tf.function
    def run(x, initial):
        with tf.GradientTape() as tape:
            tape.watch([x, initial])
            weights = tf.nest.map_structure(lambda w: None if w is None else tf.identity(w),
                                            stack.cast_weights(stack.dtype))
            _, sequence, states = chunked_unroll(
                step, tf.cast(x, compute_dtype), tf.nest.map_structure(
                    lambda s: tf.cast(s, compute_dtype), initial),
                weights=weights, mask=mask, go_backwards=go_backwards, return_sequences=True,
                output_size=stack.output_size, chunk_size=CHUNK,
                weight_gradients_per_chunk=per_chunk)
            loss = (tf.reduce_sum(tf.cast(sequence, tf.float64) ** 2)
                    + tf.reduce_sum(tf.sin(tf.cast(tf.concat(tf.nest.flatten(states), 1),
                                                   tf.float64))))
        return loss, tape.gradient(loss, [*stack.trainable_variables, *extra_variables, x,
                                          initial])

    loss, gradients = run(x, initial)
    return loss, tf.nest.flatten(gradients)


def _data(batch=3, time=2 * CHUNK + 3, features=5, dtype="float64", seed=0):
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=(batch, time, features)), dtype)
    mask = tf.constant(rng.random((batch, time)) < 0.7)
    return x, mask


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("name,extra", CELLS, ids=[n + str(e) for n, e in CELLS])
def test_weight_gradient_per_chunk_equals_the_sum_of_per_step_gradients_float64(
        name, extra, masked, go_backwards):
    """dW = Σ_t a_tᵀ dy_t formed as one matmul per chunk: float64 to 1e-10."""
    stack = _stack(name, extra)
    x, mask = _data()
    mask = mask if masked else None
    loss_step, per_step = _loss_and_gradients(stack, x, mask, go_backwards, per_chunk=False)
    loss_chunk, per_chunk = _loss_and_gradients(stack, x, mask, go_backwards, per_chunk=True)
    assert_close(loss_chunk, loss_step, tf.float64, "loss")
    assert len(per_chunk) == len(per_step)
    for i, (got, expected) in enumerate(zip(per_chunk, per_step)):
        assert_close(got, expected, tf.float64, f"{name} gradient {i}")


@pytest.mark.parametrize("name,extra", CELLS, ids=[n + str(e) for n, e in CELLS])
def test_weight_gradient_per_chunk_with_dropout_masks_equals_per_step(name, extra):
    stack = _stack(name, extra, dropout=0.3, recurrent_dropout=0.2)
    x, _ = _data()
    tf.random.set_seed(3)
    dropout_masks = stack.draw_dropout_masks(x.shape[0])
    _, per_step = _loss_and_gradients(stack, x, None, False, False, dropout_masks=dropout_masks)
    _, per_chunk = _loss_and_gradients(stack, x, None, False, True, dropout_masks=dropout_masks)
    for i, (got, expected) in enumerate(zip(per_chunk, per_step)):
        assert_close(got, expected, tf.float64, f"{name} with dropout, gradient {i}")


def test_weight_gradient_per_chunk_in_bfloat16_compute_matches_per_step():
    """float32 weights cast to bfloat16 at every step (a cast the gradient passes back
    through): per chunk and per step agree to the bfloat16 tolerance, both to float64."""
    stack32 = _stack("LSTMCell", {}, dtype="float32")
    # Seeded weights, so that the bfloat16 margin does not ride on an unseeded draw.
    rng = np.random.default_rng(0)
    stack32.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype("float32")
                         for w in stack32.get_weights()])
    stack64 = _stack("LSTMCell", {}, dtype="float64")
    stack64.set_weights(stack32.get_weights())
    x, mask = _data(dtype="float32")
    _, exact = _loss_and_gradients(stack64, tf.cast(x, tf.float64), mask, False, False)
    for per_chunk in (False, True):
        _, got = _loss_and_gradients(stack32, x, mask, False, per_chunk,
                                     compute_dtype=tf.bfloat16)
        for i, (g, e) in enumerate(zip(got, exact)):
            assert_close(tf.cast(g, tf.float64), e, tf.bfloat16,
                         f"bfloat16 per_chunk={per_chunk}, gradient {i}")


def _training_graph_nodes(per_chunk, chunk_size=CHUNK):
    """The nodes of a one-layer LSTM's training graph (two chunks), its functions' included."""
    stack = lowlevel.StackedCells([lowlevel.LSTMCell(3, input_dim=2)])
    x = tf.zeros([2, 2 * chunk_size, 2])

    @tf.function
    def gradients(x):
        with tf.GradientTape() as tape:
            weights = [[tf.identity(w) for w in stack.cast_weights(tf.float32)[0]]]
            last, _, _ = chunked_unroll(lambda x_t, s, w, matmul: stack.step(
                                            x_t, s, weights=w, matmul=matmul), x,
                                        stack.get_initial_state(2), weights=weights,
                                        output_size=3, chunk_size=chunk_size,
                                        weight_gradients_per_chunk=per_chunk)
        return tape.gradient(last, stack.trainable_variables)

    return nodes(gradients.get_concrete_function(x))


def _weight_gradient_matmuls(per_chunk):
    """MatMul nodes with ``transpose_a``: the weight-gradient matmuls (``aᵀ @ dy``)."""
    return count(_training_graph_nodes(per_chunk), "MatMul", transpose_a=True)


def test_backward_pass_forms_one_weight_gradient_matmul_per_weight_per_chunk():
    """Both chunks are one traced function: per step 2 matmuls (kernel, recurrent
    kernel) in each of its CHUNK steps; per chunk 2 in all."""
    assert _weight_gradient_matmuls(per_chunk=False) == 2 * CHUNK
    assert _weight_gradient_matmuls(per_chunk=True) == 2


def test_input_gradients_multiply_by_each_weight_transposed_once_per_chunk():
    """``da = dy @ wᵀ`` against a ``wᵀ`` formed once per chunk: no MatMul with
    ``transpose_b`` is left in the per-chunk form (autodiff's per-step form has one per
    product), and the Transpose nodes do not grow with the steps in a chunk."""
    per_step, per_chunk = _training_graph_nodes(False), _training_graph_nodes(True)
    assert count(per_step, "MatMul", transpose_b=True) > 0
    assert count(per_chunk, "MatMul", transpose_b=True) == 0
    longer_chunks = _training_graph_nodes(True, chunk_size=2 * CHUNK)
    assert count(per_chunk, "Transpose") > count(per_step, "Transpose")
    assert count(longer_chunks, "Transpose") == count(per_chunk, "Transpose")


def test_steps_outside_a_deferring_chunk_get_the_plain_matmul_with_its_gradient():
    a = tf.constant([[1.0, 2.0]])
    w = tf.constant([[3.0], [4.0]])
    seen = []

    def step(x_t, states, weights, matmul):
        seen.append(matmul)
        return states[0], states

    chunked_unroll(step, tf.zeros([1, 2, 1]), [tf.zeros([1, 1])], weights=w, output_size=1)
    assert len(seen) == 2  # one matmul per step, handed on by the chunk
    with tf.GradientTape() as tape:
        tape.watch(w)
        y = seen[0](a, w)
    assert y.numpy().item() == 11.0
    np.testing.assert_array_equal(tape.gradient(y, w).numpy(), [[1.0], [2.0]])


def test_deferred_function_keeps_none_in_its_arguments_and_results():
    @defer_weight_gradients
    def f(a, nothing, w, matmul):
        return {"y": matmul(a, w), "none": nothing}

    a = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    w = tf.constant([[1.0], [1.0]])
    with tf.GradientTape() as tape:
        tape.watch(w)
        result = f(a, None, w)
        loss = tf.reduce_sum(result["y"])
    assert result["none"] is None
    np.testing.assert_array_equal(tape.gradient(loss, w).numpy(), [[4.0], [6.0]])


def test_per_chunk_without_weights_is_an_error_naming_the_argument():
    with pytest.raises(ValueError, match="weight_gradients_per_chunk.*needs `weights`"):
        chunked_unroll(lambda x_t, s, w, matmul: (x_t, [x_t]), tf.zeros([1, 3, 1]),
                       [tf.zeros([1, 1])],
                       output_size=1, weight_gradients_per_chunk=True)


@pytest.mark.parametrize("kind,batch,units,expected", [
    ("LSTM", PER_CHUNK_MAX_BATCH, 2, True), ("LSTM", PER_CHUNK_MAX_BATCH + 1, 2, False),
    ("LSTM", PER_CHUNK_MAX_BATCH + 1, PER_CHUNK_MIN_UNITS - 1, False),
    ("LSTM", PER_CHUNK_MAX_BATCH + 1, PER_CHUNK_MIN_UNITS, True),
    ("SimpleRNN", PER_CHUNK_MAX_BATCH + 1, PER_CHUNK_MIN_UNITS, True)])
def test_unrolled_layer_forms_weight_gradients_per_chunk_at_small_batches_or_wide_layers(
        kind, batch, units, expected):
    """The measured rule: per chunk where the batch (every per-step weight-gradient
    matmul's inner dimension) is at most PER_CHUNK_MAX_BATCH, or the layer has at least
    PER_CHUNK_MIN_UNITS units. Three steps, one chunk: per chunk 2 weight-gradient
    matmuls (kernel, recurrent kernel), per step 2 x 3."""
    layer = getattr(lowlevel, kind)(units, input_dim=3, implementation="unrolled")
    reference = getattr(lowlevel, kind)(units, input_dim=3, implementation="reference")
    reference.set_weights(layer.get_weights())
    x = tf.constant(np.random.default_rng(4).normal(size=(batch, 3, 3)), tf.float32)

    @tf.function
    def gradients(x):
        with tf.GradientTape() as tape:
            y = layer(x)
        return y, tape.gradient(y, layer.trainable_variables)

    matmuls = count(nodes(gradients.get_concrete_function(x)), "MatMul", transpose_a=True)
    assert matmuls == (2 if expected else 2 * 3)
    with tf.GradientTape() as tape:
        expected_output = reference(x)
    got, got_gradients = gradients(x)
    assert_close(got, expected_output, tf.float32, "output")
    for g, e in zip(got_gradients, tape.gradient(expected_output, reference.trainable_variables)):
        assert_close(g, e, tf.float32, "weight gradient")


class _LSTMCellReadingAVariable(lowlevel.LSTMCell):
    """A cell of one's own: its output scaled by a variable it reads itself, outside the
    weights the layer hands it (so the deferring chunk is called with ``variables``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.output_scale = tf.Variable(tf.constant(1.5, self.dtype), name="output_scale")

    def step(self, x_t, states, masks=(None, None), weights=None, matmul=tf.matmul):
        h, new_states = super().step(x_t, states, masks, weights, matmul)
        return h * self.output_scale, new_states


def test_weight_gradient_per_chunk_leaves_a_variable_the_step_reads_to_autodiff():
    cell = _LSTMCellReadingAVariable(6, input_dim=5, dtype="float64")
    stack = lowlevel.StackedCells([cell])
    x, mask = _data()
    extra = [cell.output_scale]
    _, per_step = _loss_and_gradients(stack, x, mask, False, False, extra_variables=extra)
    _, per_chunk = _loss_and_gradients(stack, x, mask, False, True, extra_variables=extra)
    assert len(per_chunk) == len(per_step)
    assert float(tf.abs(per_chunk[3])) > 0  # output_scale, after the three LSTM weights
    for i, (got, expected) in enumerate(zip(per_chunk, per_step)):
        assert_close(got, expected, tf.float64, f"gradient {i}")
