"""What lies on the chain through time: the ops from ``h_prev`` to the step's new state,
which every step waits for, the wavefront of stacked layers included. The bias joins the
input's product, ``x_t W + b``, which does not wait for ``h_prev``, so the chain carries
one addition fewer (docs/speed.md, "The bias beside the input"). The equations are
checked in ``test_equations.py``; this checks where their addition happens."""

import pytest
import tensorflow as tf

import lowlevel


def _ancestors(tensor):
    """Every op ``tensor`` is computed from, itself included."""
    seen, stack = set(), [tensor.op]
    while stack:
        op = stack.pop()
        if op.name not in seen:
            seen.add(op.name)
            stack.extend(t.op for t in op.inputs)
    return seen


@pytest.mark.parametrize("cell_class", [lowlevel.SimpleRNNCell, lowlevel.LSTMCell],
                         ids=lambda c: c.__name__)
def test_the_bias_is_added_to_the_input_product_not_on_the_chain_through_time(cell_class):
    cell = cell_class(3, input_dim=2)
    specs = [tf.TensorSpec([4, 3])] * cell.state_count

    @tf.function(input_signature=[tf.TensorSpec([4, 2]), specs])
    def step(x_t, states):
        return cell(x_t, states)

    graph = step.get_concrete_function().graph
    h_prev = graph.inputs[1].op.name
    bias_adds = [op for op in graph.get_operations() if op.type == "BiasAdd"]
    assert len(bias_adds) == 1
    assert h_prev not in _ancestors(bias_adds[0].outputs[0]), (
        f"{cell_class.__name__}: the bias is added after h_prev's product, on the chain")
    assert graph.inputs[0].op.name in _ancestors(bias_adds[0].outputs[0])
